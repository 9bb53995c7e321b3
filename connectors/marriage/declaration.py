"""民政部 marriage registration, as the node knows it (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.domain import identifiers as ids
from querynode.domain.model import MaritalStatus, MarriageQuery, MarriageResult
from querynode.security.masking import mask_id_number, mask_id_or_dash, mask_name, mask_person

DEPARTMENT = Department("marriage", "民政部（婚姻登记）", default_port=18003, cache_ttl_seconds=120,
                        connector="connectors.marriage.client:MarriageConnector")


def _validate(query: MarriageQuery) -> tuple[MarriageQuery, list[str]]:
    id_number, warnings = ids.resident_id(query.id_number, "id_number")
    name, more = ids.person_name(query.name, "name")
    warnings += more
    spouse_id = spouse_name = None
    if query.spouse_id_number or query.spouse_name:
        spouse_id, more = ids.resident_id(query.spouse_id_number or "", "spouse_id_number")
        warnings += more
        spouse_name, more = ids.person_name(query.spouse_name or "", "spouse_name")
        warnings += more
    return MarriageQuery(id_number, name, spouse_id, spouse_name), warnings


def _masked(r: MarriageResult) -> MarriageResult:
    return replace(
        r, spouse_name=mask_name(r.spouse_name), spouse_id_number=mask_id_number(r.spouse_id_number),
        records=tuple(replace(x, party_name=mask_name(x.party_name), party_id_number=mask_id_number(x.party_id_number),
                              spouse_name=mask_name(x.spouse_name), spouse_id_number=mask_id_number(x.spouse_id_number))
                      for x in r.records))


def _verdict_only(r: MarriageResult) -> MarriageResult:
    return MarriageResult(status=r.status, married_to_each_other=r.married_to_each_other)


_MARITAL = {"NO_RECORD": "无婚姻登记记录", "MARRIED": "已婚", "DIVORCED": "离婚", "ANNULLED": "婚姻被撤销/无效"}
_ACTS = {"IA": "结婚登记", "IB": "离婚登记", "IC": "补领证件", "ICA": "补领结婚证", "ICB": "补领离婚证", "ID": "撤销婚姻"}


def _cards(r: MarriageResult) -> list[Card]:
    rows = [Row("当前婚姻状况", _MARITAL[r.status.value])]
    if r.spouse_name:
        rows.append(Row("配偶", f"{mask_name(r.spouse_name)}　{mask_id_or_dash(r.spouse_id_number)}"))
    cards = [Card("婚姻状况", tuple(rows))]
    for rec in r.records:
        cards.append(Card(f"{_ACTS.get(rec.act.value, rec.act.value)}　{rec.registered_on}", (
            Row("登记机关", f"{rec.office_name}（{rec.office_code}）"), Row("证书编号", rec.certificate_number),
            Row("当事人", f"{mask_name(rec.party_name)}　{mask_id_or_dash(rec.party_id_number)}"),
            Row("配偶", f"{mask_name(rec.spouse_name)}　{mask_id_or_dash(rec.spouse_id_number)}"),
        )))
    return cards


_STATUS = {MaritalStatus.NO_RECORD: "未查询到婚姻登记记录", MaritalStatus.MARRIED: "已婚", MaritalStatus.DIVORCED: "离婚",
           MaritalStatus.ANNULLED: "婚姻已被撤销"}


def _badge(query: MarriageQuery, r: MarriageResult) -> Badge:
    """With a spouse asked about: whether the two are married to each other; else the status as a fact."""
    if query.spouse_id_number or query.spouse_name:
        return Badge("互为配偶", "good") if r.married_to_each_other else Badge("不是其配偶", "attention")
    return Badge(_STATUS[r.status], "info")


OPERATIONS = (
    Operation(
        name="QueryMarriage", department="marriage", query_type=MarriageQuery, result_type=MarriageResult,
        label="婚姻登记", summary="Marriage registration and status", http_path="/api/v1/marriage/query",
        verdict=found_if(lambda r: bool(r.records)), validate=_validate,
        masking={"masked": _masked, "verdict": _verdict_only},
        form=Form("marriage", lambda q: mask_person(q.name, q.id_number), _cards, badge=_badge),
        rpc="QueryMarriage",
    ),
)
