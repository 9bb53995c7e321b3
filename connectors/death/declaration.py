"""国家卫生健康委 death medical certificates, as the node knows them (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import person
from querynode.domain.model import DeathQuery, DeathRecord, DeathResult
from querynode.security.masking import mask_person

DEPARTMENT = Department("death", "国家卫生健康委", default_port=18005, cache_ttl_seconds=120,
                        connector="connectors.death.client:DeathConnector")


def _cards(r: DeathResult) -> list[Card]:
    return [] if r.record is None else [Card("死亡医学证明", (Row("死亡日期", r.record.died_on),))]


def _masked(r: DeathResult) -> DeathResult:
    return r  # the date of death only: the reply's name, sex, ethnicity and cause are not kept


def _verdict_only(r: DeathResult) -> DeathResult:
    return r if r.record is None else replace(r, record=DeathRecord(died_on=""))


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
