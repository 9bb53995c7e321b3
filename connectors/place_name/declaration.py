"""民政部 standard place names, as the node knows them (core/operations.py)."""
from __future__ import annotations

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import one_of
from querynode.domain import identifiers as ids
from querynode.domain.model import PlaceNameQuery, PlaceNameResult

DEPARTMENT = Department("place_name", "民政部（地名）", default_port=18006, cache_ttl_seconds=86400,
                        connector="connectors.place_name.client:PlaceNameConnector")


def _validate(query: PlaceNameQuery) -> tuple[PlaceNameQuery, list[str]]:
    one_of("name", query.name, "division_code", query.division_code)
    if query.name:
        return PlaceNameQuery(name=ids.place_name(query.name), prefix=bool(query.prefix), limit=query.limit), []
    return PlaceNameQuery(division_code=ids.division_code(query.division_code), limit=query.limit), []


def _public(r: PlaceNameResult) -> PlaceNameResult:
    return r  # standard place names are public


def _cards(r: PlaceNameResult) -> list[Card]:
    return [Card(p.name, (
        Row("罗马字母拼写", p.roman), Row("类别", f"{p.place_type}（{p.place_type_code}）"), Row("地名代码", p.code),
        Row("行政区划", f"{p.division_name}（{p.division_code}）"), Row("坐标", f"{p.longitude:.5f}, {p.latitude:.5f}"),
        Row("含义", p.meaning or "—"), Row("历史沿革", "；".join(p.history) or "—"),
    )) for p in r.places]


OPERATIONS = (
    Operation(
        name="QueryPlaceNames", department="place_name", query_type=PlaceNameQuery, result_type=PlaceNameResult,
        label="标准地名", summary="Standard place names", http_path="/api/v1/place-names/query",
        verdict=found_if(lambda r: bool(r.places)), validate=_validate,
        masking={"masked": _public, "verdict": _public},
        form=Form("place-name", lambda q: q.name or q.division_code, _cards,
                  badge=lambda q, r: Badge("已查到", "good") if r.places else Badge("未查到", "attention")),
        rpc="QueryPlaceNames",
    ),
)
