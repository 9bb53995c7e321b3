"""QueryFinancialLicense end to end: node (gRPC and JSON) -> licence connector (YB01) -> mock 银保监会
金融许可证查询, over real sockets; golden request and replies written from INTERFACES.md §7 with
made-up values; then a service that breaks the documented shape."""
from __future__ import annotations

import json
import re
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from connectors.base.ministry import lower_keys
from connectors.financial_license.reply import parse
from mocks.credit_code import CreditCodeDepartment
from mocks.financial_license import FinancialLicenseDepartment
from querynode.domain.model import LicenseQuery
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, json_ctx


@pytest.fixture
async def regulator(start_mock) -> FinancialLicenseDepartment:
    return await start_mock(FinancialLicenseDepartment)


@pytest.fixture
async def node(node_for, regulator):
    return await node_for({"financial_license": regulator.url})


def licence(world, code: str):
    return next(x for x in world.licenses if x.license_code == code)


async def query(node, **key) -> pb.QueryFinancialLicenseResponse:
    return await node.stub.QueryFinancialLicense(pb.QueryFinancialLicenseRequest(context=ctx(), **key))


async def post_json(node, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/licenses/query", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


# ------------------------------------------------------------------ answers


async def test_licensed_bank_is_found_with_every_field(node, regulator, samples, world):
    sample = samples["financial_license"]["licensed_bank"][0]
    reply = await query(node, license_code=sample["license_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    [got] = reply.licenses
    want = licence(world, sample["license_code"])
    assert (got.license_code, got.serial_number, got.institution_name) == (
        want.license_code, want.serial_number, want.organization.name)
    assert (got.short_name, got.english_name, got.address, got.scope) == (
        want.short_name, want.english_name, want.address, want.scope)
    assert got.institution_type == "商业银行" == want.institution_type
    assert (got.issuing_office, got.approved_on, got.issued_on) == (
        want.issuing_office, want.approved_on.isoformat(), want.issued_on.isoformat())
    assert got.valid and got.credit_code == ""  # YB01 carries no credit code
    assert reply.provenance.department == pb.DEPARTMENT_FINANCIAL_LICENSE and reply.provenance.audit_id
    assert regulator.requests == [{"typeId": "01", "certCode": sample["license_code"]}]


async def test_every_held_licence_type_letter_maps_to_the_worlds_type(node, world):
    for lic in (x for x in world.licenses if x.valid):
        reply = await query(node, license_code=lic.license_code)
        assert [x.institution_type for x in reply.licenses] == [lic.institution_type], lic.license_code


async def test_withdrawn_licence_is_left_to_a_person_never_valid(node, samples):
    """YB01 has no status field: a record without a print date cannot be told held or withdrawn."""
    sample = samples["financial_license"]["withdrawn"][0]
    status, body = await post_json(node, {"context": json_ctx(), "license_code": sample["license_code"]})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE" and not body["result"]
    assert "print date" in body["provenance"]["unavailable_reason"]


async def test_a_name_is_not_asked_the_service_answers_by_code_only(node, regulator, samples):
    name = samples["financial_license"]["licensed_bank"][0]["institution_name"]
    reply = await query(node, institution_name=name)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.licenses
    assert "机构编码 only" in reply.provenance.unavailable_reason
    assert regulator.requests == []


async def test_lower_case_code_is_normalised(node, samples):
    sample = samples["financial_license"]["licensed_bank"][0]
    reply = await query(node, license_code=sample["license_code"].lower())
    assert [x.license_code for x in reply.licenses] == [sample["license_code"]]


async def test_unknown_licence_code_is_not_found(node, regulator, samples):
    code = samples["financial_license"]["not_found"][0]["license_code"]
    reply = await query(node, license_code=code)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply.licenses
    assert regulator.stats["requests"] == 1


async def test_every_held_licence_names_an_institution_of_the_credit_register(node_for, start_mock, regulator, world):
    samr = await start_mock(CreditCodeDepartment)
    node = await node_for({"financial_license": regulator.url, "credit_code": samr.url})
    for lic in (x for x in world.licenses if x.valid):
        [got] = (await query(node, license_code=lic.license_code)).licenses
        company = await node.stub.LookupOrganization(pb.LookupOrganizationRequest(
            context=ctx(), name=got.institution_name))
        assert [o.credit_code for o in company.organizations] == [lic.organization.credit_code]


async def test_wrong_secret_is_source_unavailable_not_a_verdict(node_for, world, samples):
    regulator = FinancialLicenseDepartment(world, {APP_ID: "another secret"})
    await regulator.start()
    try:
        node = await node_for({"financial_license": regulator.url})
        reply = await query(node, license_code=samples["financial_license"]["licensed_bank"][0]["license_code"])
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "signature refused" in reply.provenance.unavailable_reason
        assert regulator.requests == []
    finally:
        await regulator.stop()


# ------------------------------------------------------------------ golden pairs (INTERFACES.md §7, made-up values)

DOC = {"id": "8a8a8a8a0001", "certFlowNo": "00012345", "certCode": "B0001H111000001",
       "fullName": "某某银行股份有限公司某某支行", "simpleName": "某某银行某某支行", "englishName": "",
       "address": "某市某路1号", "setDate": "2001-01-01", "printDate": "2019-06-01", "typeId": "01",
       "organName": "某银保监分局", "scope": "吸收公众存款"}
CODE = DOC["certCode"]


def reply_body(data, status: str = "0200") -> bytes:
    return json.dumps({"head": {"status": status, "msg": "正常", "requestType": "YB01"}, "data": data},
                      ensure_ascii=False).encode()


async def test_the_request_is_the_documented_shape(node_for, fake_upstream):
    seen = []

    async def handle(request):
        seen.append(json.loads(await request.read()))
        return web.Response(body=reply_body(DOC), content_type="application/json")
    node = await node_for({"financial_license": await fake_upstream(handle)})
    got = await query(node, license_code=CODE)
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND
    [body] = seen
    assert body["data"] == {"typeId": "01", "certCode": CODE}
    assert body["head"]["requestType"] == "YB01" and re.fullmatch(r"\d{20}", body["head"]["cxqqdh"])


@pytest.mark.parametrize("spell", [str.lower, str.upper, lambda k: k], ids=["lower", "UPPER", "camelCase"])
def test_documented_reply_is_read_in_any_case(spell):
    [got] = parse(lower_keys({spell(k): v for k, v in DOC.items()}), LicenseQuery(license_code=CODE)).licenses
    assert (got.license_code, got.serial_number, got.institution_name, got.short_name) == (
        CODE, "00012345", "某某银行股份有限公司某某支行", "某某银行某某支行")
    assert (got.address, got.scope, got.issuing_office, got.institution_type) == (
        "某市某路1号", "吸收公众存款", "某银保监分局", "商业银行")
    assert (got.approved_on, got.issued_on, got.valid) == ("2001-01-01", "2019-06-01", True)


@pytest.mark.parametrize("printed,want", [("2019-06-01 00:00:00", "2019-06-01"), ("20190601", "2019-06-01"),
                                          (20190601, "2019-06-01")])
def test_print_dates_in_the_spellings_seen(printed, want):
    [got] = parse(lower_keys(DOC | {"printDate": printed}), LicenseQuery(license_code=CODE)).licenses
    assert got.issued_on == want


@pytest.mark.parametrize("empty", [None, {}, "", []], ids=["null", "{}", "empty text", "[]"])
def test_no_object_is_no_licence(empty):
    assert parse(empty, LicenseQuery(license_code=CODE)).licenses == ()


# ------------------------------------------------------------------ refused input


def bad_request_fields(err: grpc.aio.AioRpcError) -> list[str]:
    fields = []
    for detail in rpc_status.from_call(err).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            fields += [v.field for v in br.field_violations]
    return fields


@pytest.mark.parametrize("label,key,field", [
    ("14 characters", {"license_code": "B0001H11100000"}, "license_code"),
    ("digit first", {"license_code": "10001H111000001"}, "license_code"),
    ("letter in the serial", {"license_code": "B0001H11100000A"}, "license_code"),
    ("one-character name", {"institution_name": "银"}, "institution_name"),
    ("control character in name", {"institution_name": "中国银行\x00股份有限公司"}, "institution_name"),
    ("neither key", {}, "license_code|institution_name"),
])
async def test_bad_input_is_invalid_argument_and_never_reaches_regulator(node, regulator, label, key, field):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await query(node, **key)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert regulator.stats["requests"] == 0


@pytest.mark.parametrize("label,key,field", [
    ("both keys", {"license_code": "B0001H111000001", "institution_name": "中国银行股份有限公司"},
     "license_code|institution_name"),
    ("code not a string", {"license_code": ["B0001H111000001"]}, "license_code"),
    ("unknown field", {"licence": "B0001H111000001"}, "licence"),
])
async def test_bad_json_input_is_problem_json_and_never_reaches_regulator(node, regulator, label, key, field):
    status, problem = await post_json(node, {"context": json_ctx(), **key})
    assert status == 400
    assert [p["name"] for p in problem["invalid_params"]] == [field]
    assert regulator.stats["requests"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_department_down_is_source_unavailable(node_for, samples):
    node = await node_for({"financial_license": f"http://127.0.0.1:{_closed_port()}"})
    reply = await query(node, license_code=samples["financial_license"]["licensed_bank"][0]["license_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "cannot connect" in reply.provenance.unavailable_reason


# ------------------------------------------------------------------ broken upstream


async def _truncated(request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write(b'{"head": {"status": "0200"}, "data": {"certCode": "B0001H1')
    request.transport.close()
    return resp


def _without(key: str) -> dict:
    return {k: v for k, v in DOC.items() if k != key}


BROKEN = [
    ("invalid JSON", b'{"head": {"status": "0200"}, "data": {', "not UTF-8 JSON"),
    ("HTML error page with 200", b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "not UTF-8 JSON"),
    ("JSON string", json.dumps("0200").encode(), "not a JSON object"),
    ("no head status", json.dumps({"data": DOC}).encode(), "no head status"),
    ("permission refused 0301", reply_body(None, "0301"), "0301"),
    ("service error 0404", reply_body(None, "0404"), "0404"),
    ("a list of licences", reply_body([DOC]), "not the documented single object"),
    ("a bare number", reply_body(7), "not an object"),
    ("missing full name", reply_body(_without("fullName")), "required text field"),
    ("serial as a list", reply_body(DOC | {"certFlowNo": ["00012345"]}), "not text"),
    ("control character", reply_body(DOC | {"fullName": "某某银行\x07"}), "control characters"),
    ("malformed licence code", reply_body(DOC | {"certCode": "B0001-H111000001"}), "licence code is malformed"),
    ("licence of another institution", reply_body(DOC | {"certCode": "B0002H111000001"}), "does not match"),
    ("no print date: held or withdrawn?", reply_body(DOC | {"printDate": ""}), "cannot be told"),
    ("print date absent", reply_body(_without("printDate")), "cannot be told"),
    ("impossible print date", reply_body(DOC | {"printDate": "2023-02-30"}), "print date is not a real date"),
    ("slashed set date", reply_body(DOC | {"setDate": "01/01/2001"}), "set date is not a date"),
    ("10 MB body", b"[" * (10 * 1024 * 1024), "exceeds"),
    ("GBK bytes declared UTF-8", json.dumps({"head": {"status": "0200"}, "data": DOC}, ensure_ascii=False).encode("gbk"),
     "not UTF-8 JSON"),
]


@pytest.mark.parametrize("label,body,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(node_for, fake_upstream, label, body, reason):
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    node = await node_for({"financial_license": await fake_upstream(handle)})
    reply = await query(node, license_code=CODE)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.licenses
    assert reason in reply.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(), "license_code": CODE})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"
    assert reason in body["provenance"]["unavailable_reason"]


async def test_truncated_reply_is_source_unavailable(node_for, fake_upstream):
    node = await node_for({"financial_license": await fake_upstream(_truncated)})
    reply = await query(node, license_code=CODE)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and "truncated" in reply.provenance.unavailable_reason


async def test_rate_limited_service_is_retried_then_unavailable(node_for, fake_upstream):
    calls = []

    async def handle(request):
        calls.append(request.path)
        return web.Response(body=reply_body(None, "0402"), content_type="application/json")

    node = await node_for({"financial_license": await fake_upstream(handle)})
    reply = await query(node, license_code=CODE)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "0402" in reply.provenance.unavailable_reason
    assert len(calls) > 1  # transient: the hub tried again within the deadline


async def test_withdrawn_licences_asked_again_and_again_never_open_the_breaker(regulator, samples, tmp_path, dept_secret):
    """An answer the node cannot judge says nothing about the service's health: ten questions about
    a withdrawn licence must not stop the node from asking about a held one."""
    from tests.conftest import make_settings, start_node
    settings = make_settings(tmp_path, {"financial_license": regulator.url}, dept_secret,
                             breaker={"consecutive_failures": 2, "cool_down_seconds": 600})
    node, stop = await start_node(settings)
    try:
        withdrawn = samples["financial_license"]["withdrawn"][0]["license_code"]
        for _ in range(10):
            reply = await node.stub.QueryFinancialLicense(pb.QueryFinancialLicenseRequest(
                context=ctx(fresh=True), license_code=withdrawn))
            assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        held = samples["financial_license"]["licensed_bank"][0]["license_code"]
        reply = await node.stub.QueryFinancialLicense(pb.QueryFinancialLicenseRequest(context=ctx(), license_code=held))
        assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    finally:
        await stop()
