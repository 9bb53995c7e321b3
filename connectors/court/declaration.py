"""最高人民法院 judgments, as the node knows them (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row
from querynode.core.validate import one_of
from querynode.domain import identifiers as ids
from querynode.domain.model import JudgmentQuery, JudgmentResult, Party
from querynode.security.masking import is_natural_person, mask_id_number, mask_in_text, mask_name

DEPARTMENT = Department("court", "最高人民法院", default_port=18004, cache_ttl_seconds=120,
                        connector="connectors.court.client:CourtConnector")


def _validate(query: JudgmentQuery) -> tuple[JudgmentQuery, list[str]]:
    one_of("case_number", query.case_number, "party_name", query.party_name)
    if query.case_number:
        return JudgmentQuery(case_number=ids.court_case_number(query.case_number)), []
    return JudgmentQuery(party_name=ids.organization_name(query.party_name, "party_name")), []


def _verdict(r: JudgmentResult) -> str:
    if r.pending:  # the court answers later: never a NOT_FOUND
        return "PENDING"
    return "FOUND" if r.judgments else "NOT_FOUND"


def _mask_party(party: Party) -> Party:
    person = is_natural_person(party.name, party.id_number)
    return replace(party, name=mask_name(party.name) if person else party.name,
                   id_number=mask_id_number(party.id_number) if party.id_number else "")


def _masked(r: JudgmentResult) -> JudgmentResult:
    judgments = []
    for j in r.judgments:
        parties = tuple(_mask_party(p) for p in j.parties)
        persons = {p.name for p, masked in zip(j.parties, parties) if masked.name != p.name}
        judgments.append(replace(j, parties=parties, operative_text=mask_in_text(j.operative_text, persons)))
    return replace(r, judgments=tuple(judgments))


def _verdict_only(r: JudgmentResult) -> JudgmentResult:
    return replace(r, judgments=tuple(replace(j, parties=(), operative_text="") for j in r.judgments))


_ORGANISATION_MARKERS = ("公司", "银行", "法院", "中心", "集团", "委员会", "合作社", "企业", "政府", "局", "厂", "院", "所", "社", "行")


def _party_name(name: str) -> str:
    """Organisations are public; people are masked."""
    return name if any(marker in name for marker in _ORGANISATION_MARKERS) else mask_name(name)


def _cards(r: JudgmentResult) -> list[Card]:
    cards = []
    for j in r.judgments:
        text = j.operative_text
        for p in j.parties:  # the text names the parties: mask them there too
            if p.name:
                text = text.replace(p.name, _party_name(p.name))
            if p.id_number:
                text = text.replace(p.id_number, mask_id_number(p.id_number))
        parties = "；".join(f"{p.role}：{_party_name(p.name)}" for p in j.parties)
        cards.append(Card(j.case_number, (
            Row("法院", j.court), Row("案由", j.cause), Row("裁判日期", j.decided_on),
            Row("文书类型", j.document_type), Row("当事人", parties), Row("裁判主文", text),
        )))
    return cards


def _badge(query: JudgmentQuery, r: JudgmentResult) -> Badge:
    if r.pending:
        return Badge("法院尚未答复", "attention")
    return Badge("已查到", "info") if r.judgments else Badge("未查到", "attention")


OPERATIONS = (
    Operation(
        name="QueryJudgments", department="court", query_type=JudgmentQuery, result_type=JudgmentResult,
        label="司法判决", summary="Judgments by case number or party", http_path="/api/v1/judgments/query",
        verdict=_verdict, validate=_validate, masking={"masked": _masked, "verdict": _verdict_only},
        form=Form("judgment", lambda q: q.case_number or _party_name(q.party_name or ""), _cards, badge=_badge),
        rpc="QueryJudgments",
    ),
)
