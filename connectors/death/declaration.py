"""国家卫生健康委 death medical certificates, as the node knows them (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import person
from querynode.domain.model import DeathQuery, DeathRecord, DeathResult
from querynode.security.masking import mask_id_number, mask_person

DEPARTMENT = Department("death", "国家卫生健康委", default_port=18005, cache_ttl_seconds=120,
                        connector="connectors.death.client:DeathConnector")


def _cards(r: DeathResult) -> list[Card]:
    if r.record is None:
        return []
    d = r.record
    number = mask_id_number(d.certificate_number) if len(d.certificate_number) == 18 else d.certificate_number
    return [Card("死亡医学证明", (
        Row("死亡日期", d.died_on), Row("证明编号", number), Row("签发机构", d.issuer), Row("死因代码", d.cause_code),
    ))]


def _masked(r: DeathResult) -> DeathResult:
    # From 2026-07-01 the certificate number is the deceased's ID number: masked like one.
    if r.record is None:
        return r
    return replace(r, record=replace(r.record, certificate_number=mask_id_number(r.record.certificate_number)))


def _verdict_only(r: DeathResult) -> DeathResult:
    return replace(r, record=None if r.record is None else DeathRecord("", "", "", ""))


OPERATIONS = (
    Operation(
        name="QueryDeath", department="death", query_type=DeathQuery, result_type=DeathResult,
        label="死亡医学证明", summary="Death medical certificate", http_path="/api/v1/death/query",
        verdict=found_if(lambda r: r.record is not None), validate=person,
        masking={"masked": _masked, "verdict": _verdict_only},
        form=Form("death", lambda q: mask_person(q.name, q.id_number), _cards,
                  badge=lambda q, r: Badge("有死亡记录", "blocked") if r.record else Badge("无死亡记录", "good")),
        rpc="QueryDeath",
    ),
)
