"""国家卫生健康委 death medical certificates, as the node knows them (core/operations.py)."""
from __future__ import annotations

from querynode.core.operations import Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import person
from querynode.domain.model import DeathQuery, DeathResult
from querynode.security.masking import mask_person

DEPARTMENT = Department("death", "国家卫生健康委", default_port=18005, cache_ttl_seconds=120,
                        connector="connectors.death.client:DeathConnector")


def _cards(r: DeathResult) -> list[Card]:
    return [] if r.record is None else [Card("死亡医学证明", (Row("死亡日期", r.record.died_on),))]


def _same(r: DeathResult) -> DeathResult:
    return r  # the date of death only: the reply's name, sex, ethnicity and cause are not kept


OPERATIONS = (
    Operation(
        name="QueryDeath", department="death", query_type=DeathQuery, result_type=DeathResult,
        label="死亡医学证明", summary="Death medical certificate", http_path="/api/v1/death/query",
        verdict=found_if(lambda r: r.record is not None), validate=person,
        masking={"masked": _same, "verdict": _same},
        form=Form("death", lambda q: mask_person(q.name, q.id_number), _cards),
        rpc="QueryDeath",
    ),
)
