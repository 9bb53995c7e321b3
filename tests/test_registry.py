"""The operation and department registry (querynode/core/operations.py).

1. Completeness: every registered operation has each derived piece (rpc, route, OpenAPI,
   masking for every view, clerk form, scope), one small test per piece and operation.
2. Misdeclarations fail when they register (pluggy's `_verify_hook` style), never later.
3. A throwaway department declared in this file, with no file under querynode/ touched, gets
   a JSON route, OpenAPI path, clerk form, scope, masking and metric labels, and answers.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, replace

import aiohttp
import pytest
from aiohttp import web

from connectors.base import CallInfo, Connector
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import json_object
from querynode.api.grpc import convert
from querynode.api.grpc.servicer import CASE_RPCS, SERVICE, QueryNodeServicer, method_handlers
from querynode.api.http.app import create_app
from querynode.api.http.openapi import document
from querynode.api.http.pages.lookups import lookups
from querynode.config import Settings
from querynode.core.operations import (
    MASKED_VIEWS, Card, Department, Form, Operation, Registry, RegistryError, Row, found_if, registry,
)
from querynode.core.validate import validate_query
from querynode.domain.errors import InvalidArgument, PermissionDenied
from querynode.domain.fields import param, param_of
from querynode.domain.model import RequestContext
from querynode.security.authorization import Authorizer, View
from querynode.security.masking import mask_name, present
from tests.conftest import json_ctx

OPERATIONS = list(registry().operations.values())
IDS = [op.name for op in OPERATIONS]


# ------------------------------------------------------------------ completeness, per operation


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_has_an_rpc_whose_messages_fit(op):
    methods = SERVICE.methods_by_name
    assert op.rpc in methods, f"{op.name}: no rpc in {SERVICE.full_name}"
    method = methods[op.rpc]
    assert convert.check(op, method.input_type, method.output_type) == []


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_has_a_json_route(op):
    app = create_app(None, anonymous_caller="x")  # routes only; no request is made
    posts = {r.resource.canonical for r in app.router.routes() if r.method == "POST"}
    assert op.http_path in posts


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_is_in_the_openapi_document_with_its_limits_and_scope(op):
    doc = document()
    post = doc["paths"][op.http_path]["post"]
    assert post["operationId"] == op.name
    assert post["security"] == [{"bearer": [op.scope]}]
    schema = doc["components"]["schemas"][op.query_type.__name__]["properties"]
    for f in dataclasses.fields(op.query_type):
        limit = param_of(f).max_length
        assert limit is None or schema[f.name]["maxLength"] == limit, f.name


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_has_masking_for_every_view(op):
    assert set(MASKED_VIEWS) == {v.value for v in View} - {View.FULL.value}
    for view in MASKED_VIEWS:
        assert callable(op.masking.get(view)), view


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_has_a_clerk_form(op):
    lookup = lookups()[op.form.slug]
    assert lookup.title == op.label and lookup.operation is op
    on_form = [f.name for f in dataclasses.fields(op.query_type) if param_of(f).on_form]
    assert [f.name for f in lookup.fields] == on_form
    assert all(f.label for f in lookup.fields)


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_has_a_scope_that_authorizes_it(op):
    ctx = RequestContext("2026-1", "clerk", "purpose", "caller-a", "r1")
    Authorizer({"caller-a": [op.scope]}).check(ctx, op.scope, op.department)
    with pytest.raises(PermissionDenied):
        Authorizer({"caller-a": ["SomethingElse"]}).check(ctx, op.scope, op.department)


class Verdict(enum.StrEnum):
    MATCH = "MATCH"
    PROBABLY = "PROBABLY"  # no IDENTITY_VERDICT_PROBABLY in the proto


@dataclass(frozen=True)
class Guess:
    verdict: Verdict
    confidence: float  # no such field in VerifyIdentityResponse


def test_a_result_the_response_cannot_carry_is_reported_before_start():
    op = replace(registry().operations["VerifyIdentity"], result_type=Guess)
    method = SERVICE.methods_by_name["VerifyIdentity"]
    problems = convert.check(op, method.input_type, method.output_type)
    assert any("IdentityVerdict has no value for PROBABLY" in p for p in problems)
    assert any("has no field confidence" in p for p in problems)


def test_every_rpc_is_declared_and_every_declaration_has_its_rpc():
    handlers = method_handlers(QueryNodeServicer(None), registry())
    assert set(handlers) == {m.name for m in SERVICE.methods}
    assert set(handlers) - set(CASE_RPCS) == {op.rpc for op in OPERATIONS}


# ------------------------------------------------------------------ misdeclarations fail at registration


@dataclass(frozen=True)
class TaxQuery:
    id_number: str = param("公民身份号码", max_length=18)
    name: str = param("姓名", max_length=30)


@dataclass(frozen=True)
class TaxRecord:
    taxpayer: str
    amount: str


@dataclass(frozen=True)
class TaxResult:
    records: tuple[TaxRecord, ...]


def _mask(r: TaxResult) -> TaxResult:
    return replace(r, records=tuple(replace(x, taxpayer=mask_name(x.taxpayer)) for x in r.records))


def _validate(q: TaxQuery) -> tuple[TaxQuery, list[str]]:
    return q, []


def _cards(r: TaxResult) -> list[Card]:
    return [Card("完税记录", (Row("纳税人", mask_name(x.taxpayer)), Row("税额", x.amount))) for x in r.records]


TAX = Department("throwaway", "试用部门", default_port=18999, cache_ttl_seconds=60,
                 connector=f"{__name__}:ThrowawayConnector")
QUERY_THROWAWAY = Operation(
    name="QueryThrowaway", department="throwaway", query_type=TaxQuery, result_type=TaxResult, label="试用查询",
    summary="A throwaway lookup", http_path="/api/v1/throwaway/query", verdict=found_if(lambda r: bool(r.records)),
    validate=_validate, masking={"masked": _mask, "verdict": lambda r: TaxResult(())},
    form=Form("throwaway", lambda q: mask_name(q.name), _cards),
)


def test_the_throwaway_declaration_registers_cleanly():
    Registry().register(TAX, (QUERY_THROWAWAY,))


@pytest.mark.parametrize("change, complaint", [
    ({"masking": {"masked": _mask}}, "no masking for view verdict"),
    ({"masking": {}}, "no masking for view masked, verdict"),
    ({"department": "identity"}, "declared for department 'identity'"),
    ({"http_path": "/deed-tax"}, "http_path must start with /api/v1/"),
    ({"label": ""}, "no Chinese label"),
    ({"result_type": dict}, "result type must be a dataclass"),
])
def test_a_misdeclared_operation_does_not_register(change, complaint):
    with pytest.raises(RegistryError, match=complaint):
        Registry().register(TAX, (replace(QUERY_THROWAWAY, **change),))


def test_a_query_field_without_limits_does_not_register():
    @dataclass(frozen=True)
    class Bare:
        id_number: str

    with pytest.raises(RegistryError, match="query field id_number has no param"):
        Registry().register(TAX, (replace(QUERY_THROWAWAY, query_type=Bare),))


def test_a_clash_with_a_registered_department_does_not_register():
    taken = registry().operations["QueryDeath"]
    with pytest.raises(RegistryError, match="already registered"):
        Registry(dict(registry().departments), dict(registry().operations)).register(
            replace(TAX, default_port=18005), (replace(QUERY_THROWAWAY, http_path=taken.http_path),))


def test_an_rpc_without_declaration_and_a_declaration_without_rpc_stop_the_grpc_door():
    missing = Registry()
    for name, dept in registry().departments.items():
        if name != "death":
            missing.register(dept, [op for op in OPERATIONS if op.department == name])
    with pytest.raises(RegistryError, match="rpc QueryDeath has no declared operation"):
        method_handlers(QueryNodeServicer(None), missing)
    extra = Registry(dict(registry().departments), dict(registry().operations))
    extra.register(TAX, (replace(QUERY_THROWAWAY, rpc="QueryThrowaway"),))
    with pytest.raises(RegistryError, match="declares rpc QueryThrowaway"):
        method_handlers(QueryNodeServicer(None), extra)


@pytest.mark.parametrize("view", MASKED_VIEWS)
def test_results_are_masked_by_their_declaration_and_unknown_ones_refused(view):
    result = TaxResult((TaxRecord("张三丰", "1200.00"),))
    with pytest.raises(LookupError):
        present(result, view)  # not registered: never shown as it came


# ------------------------------------------------------------------ a throwaway department, end to end


class ThrowawayConnector(Connector):
    """The throwaway department's connector: one JSON POST, one JSON reply."""

    department = "throwaway"

    async def lookup(self, query: TaxQuery, call: CallInfo) -> TaxResult:
        async with map_errors(self.department):
            async with self.session.post("/tax/deed", json={"sfzh": query.id_number, "xm": query.name},
                                         timeout=client_timeout(call)) as resp:
                check_status(self.department, resp)
                raw = await read_body(self.department, resp, self.config.max_reply_bytes)
        reply = json_object(self.department, raw)
        return TaxResult(tuple(TaxRecord(x["nsrmc"], x["se"]) for x in reply["records"]))


@pytest.fixture
def throwaway():
    registry().register(TAX, (QUERY_THROWAWAY,))
    yield QUERY_THROWAWAY
    registry().unregister(TAX.name)


async def test_a_new_department_gets_route_openapi_form_scope_masking_and_metrics(throwaway, fake_upstream, node_for,
                                                                                   samples):
    async def tax_office(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"records": [{"nsrmc": body["xm"], "se": "1200.00"}]})

    running = await node_for({"throwaway": await fake_upstream(tax_office)},
                             callers={"test-registry": {"operations": ["QueryThrowaway"], "view": "masked"}})
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{running.http_url}/api/v1/throwaway/query",
                          json={"context": json_ctx(), "id_number": "110105199003071234", "name": "张三丰"}) as r:
            assert r.status == 200, await r.text()
            answer = await r.json()
        person = {k: samples["identity"]["match"][0][k] for k in ("id_number", "name")}
        async with s.post(f"{running.http_url}/api/v1/identity/verify", json={"context": json_ctx(), **person}) as r:
            assert r.status == 403  # the caller's scopes name only the new operation
        async with s.get(f"{running.http_url}/metrics") as r:
            metrics = await r.text()
    assert answer["verdict"] == "FOUND"
    assert answer["result"] == {"records": [{"taxpayer": "张**", "amount": "1200.00"}]}  # masked view
    assert answer["provenance"]["department"] == "throwaway"
    assert 'operation="QueryThrowaway"' in metrics and 'department="throwaway"' in metrics
    assert "/api/v1/throwaway/query" in document()["paths"]
    assert lookups()["throwaway"].fields[0].maxlength == 18
    assert running.node.settings.departments["throwaway"].cache_ttl_seconds == 60  # the declared default


async def test_a_new_departments_limits_are_enforced(throwaway):
    with pytest.raises(InvalidArgument) as raised:
        validate_query(TaxQuery("110105199003071234", "张" * 121))  # beyond any normalising
    assert [(v.field, v.code) for v in raised.value.violations] == [("name", "TOO_LONG")]
    with pytest.raises(InvalidArgument) as raised:
        validate_query(TaxQuery(18, "张三"))
    assert [(v.field, v.code) for v in raised.value.violations] == [("id_number", "NOT_A_STRING")]


def test_the_mocks_serve_every_registered_department_at_its_default_port():
    from mocks.departments import DEPARTMENTS, mock_classes

    offsets = {cls.name: offset for (offset, _, _), cls in zip(DEPARTMENTS, mock_classes(), strict=True)}
    assert offsets == {d.name: d.default_port - 18000 for d in registry().departments.values()}


@pytest.mark.parametrize("callers", [{"window-app": ["VerifyIdentiy"]},
                                     {"window-app": {"operations": ["QueryMarriage"], "departments": ["mariage"]}}])
def test_a_caller_naming_an_unknown_scope_or_department_stops_the_node(callers):
    # A typo would silently deny the caller everything it was meant to have.
    with pytest.raises(ValueError, match="not registered"):
        Settings(callers=callers)


# ------------------------------------------------------------------ labels of errors come from the declaration

@dataclass(frozen=True)
class DeedQuery:
    deed_number: str = param("契税完税凭证号", max_length=20)
    name: str = param("纳税人名称", max_length=30)


def _refuse_deed_number(q: DeedQuery) -> tuple[DeedQuery, list[str]]:
    from querynode.domain.errors import invalid
    raise invalid("deed_number", "INVALID_VALUE")


def test_an_error_names_a_field_by_its_declared_label_in_every_door():
    """A new department's field is named in error texts (JSON reason, gRPC description, page) by
    the label its param declares, never by its English name; and a field name two operations
    share ("name") is named as each declares it."""
    deed = replace(QUERY_THROWAWAY, query_type=DeedQuery, validate=_refuse_deed_number)
    registry().register(TAX, (deed,))
    try:
        with pytest.raises(InvalidArgument) as refused:
            validate_query(DeedQuery("x", "某公司"))
        with pytest.raises(InvalidArgument) as too_long:
            validate_query(DeedQuery("1", "名" * 121))
    finally:
        registry().unregister(TAX.name)
    assert refused.value.message == "契税完税凭证号：取值无效"
    assert too_long.value.message.startswith("纳税人名称：")
