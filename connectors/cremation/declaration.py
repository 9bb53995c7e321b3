"""民政部 殡葬 火化信息 (3.16 zw_civil_crem), as the node knows it (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from connectors.cremation.types import CremationQuery, CremationRecord, CremationResult
from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import person
from querynode.security.masking import mask_person

DEPARTMENT = Department("cremation", "民政部（殡葬服务火化信息）", default_port=18010, cache_ttl_seconds=120,
                        connector="connectors.cremation.client:CremationConnector")


def _cards(r: CremationResult) -> list[Card]:
    return [Card("火化信息", (Row("死亡日期", c.died_on), Row("火化日期", c.cremated_on))) for c in r.records]


def _masked(r: CremationResult) -> CremationResult:
    return r  # dates only: the address and name the service sends are not kept


def _verdict_only(r: CremationResult) -> CremationResult:
    return replace(r, records=tuple(CremationRecord("", "") for _ in r.records))


OPERATIONS = (
    Operation(
        name="QueryCremation", department="cremation", query_type=CremationQuery, result_type=CremationResult,
        label="殡葬火化信息", summary="Cremation record of a person (second source of deaths)",
        http_path="/api/v1/cremation/query", verdict=found_if(lambda r: bool(r.records)), validate=person,
        masking={"masked": _masked, "verdict": _verdict_only},
        form=Form("cremation", lambda q: mask_person(q.name, q.id_number), _cards,
                  badge=lambda q, r: Badge("有火化记录", "blocked") if r.records else Badge("无火化记录", "good")),
        rpc="QueryCremation",
    ),
)
