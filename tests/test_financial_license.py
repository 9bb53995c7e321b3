"""QueryFinancialLicense end to end: node (gRPC and JSON) -> licence connector -> mock banking
regulator, over real sockets; then a regulator that breaks its protocol."""
from __future__ import annotations

import json
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mocks.credit_code import CreditCodeDepartment
from mocks.financial_license import FinancialLicenseDepartment, record
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


async def test_licensed_bank_is_found_with_every_field(node, samples, world):
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
    assert got.valid and got.credit_code == want.organization.credit_code
    assert reply.provenance.department == pb.DEPARTMENT_FINANCIAL_LICENSE and reply.provenance.audit_id


async def test_every_licence_type_letter_maps_to_the_worlds_type(node, world):
    for lic in world.licenses:
        reply = await query(node, license_code=lic.license_code)
        assert [x.institution_type for x in reply.licenses] == [lic.institution_type], lic.license_code


async def test_withdrawn_licence_is_found_and_not_valid(node, samples):
    sample = samples["financial_license"]["withdrawn"][0]
    status, body = await post_json(node, {"context": json_ctx(), "license_code": sample["license_code"]})
    assert status == 200 and body["verdict"] == "FOUND"
    [lic] = body["result"]["licenses"]
    assert lic["license_code"] == sample["license_code"] and lic["valid"] is False
    assert lic["institution_type"] == "信托公司"


async def test_name_search_returns_current_and_withdrawn_licences(node, samples):
    name = samples["financial_license"]["withdrawn"][0]["institution_name"]
    reply = await query(node, institution_name=name)
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert sorted((x.license_code, x.valid) for x in reply.licenses) == [
        ("K0024H111000001", True), ("K0099H111000001", False)]


async def test_lower_case_code_is_normalised(node, samples):
    sample = samples["financial_license"]["licensed_bank"][0]
    reply = await query(node, license_code=sample["license_code"].lower())
    assert [x.license_code for x in reply.licenses] == [sample["license_code"]]


async def test_unknown_licence_code_is_not_found(node, regulator, samples):
    code = samples["financial_license"]["not_found"][0]["license_code"]
    reply = await query(node, license_code=code)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply.licenses
    assert regulator.stats["requests"] == 1


async def test_unlicensed_lender_has_a_credit_code_but_no_licence(node_for, start_mock, regulator, samples):
    samr = await start_mock(CreditCodeDepartment)
    node = await node_for({"financial_license": regulator.url, "credit_code": samr.url})
    lender = samples["financial_license"]["unlicensed_lender"][0]
    licences = await query(node, institution_name=lender["institution_name"])
    assert licences.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    status, body = await post_json(node, {"context": json_ctx(), "institution_name": lender["institution_name"]})
    assert status == 200 and body["verdict"] == "NOT_FOUND"
    company = await node.stub.LookupOrganization(pb.LookupOrganizationRequest(
        context=ctx(), credit_code=lender["credit_code"]))
    assert company.verdict == pb.LOOKUP_VERDICT_FOUND
    assert company.organizations[0].name == lender["institution_name"]


async def test_every_licensed_institution_has_a_credit_code_record(node_for, start_mock, regulator, world):
    samr = await start_mock(CreditCodeDepartment)
    node = await node_for({"financial_license": regulator.url, "credit_code": samr.url})
    for lic in world.licenses:
        [got] = [x for x in (await query(node, license_code=lic.license_code)).licenses]
        company = await node.stub.LookupOrganization(pb.LookupOrganizationRequest(
            context=ctx(), credit_code=got.credit_code))
        assert [o.name for o in company.organizations] == [got.institution_name]


async def test_request_id_is_forwarded(node, regulator, samples):
    await node.stub.QueryFinancialLicense(pb.QueryFinancialLicenseRequest(
        context=ctx(request_id="req-licence-0001"),
        license_code=samples["financial_license"]["licensed_bank"][0]["license_code"]))
    assert regulator.request_ids == ["req-licence-0001"]


async def test_wrong_secret_is_source_unavailable_not_a_verdict(node_for, world, samples):
    regulator = FinancialLicenseDepartment(world, {APP_ID: "another secret"})
    await regulator.start()
    try:
        node = await node_for({"financial_license": regulator.url})
        reply = await query(node, license_code=samples["financial_license"]["licensed_bank"][0]["license_code"])
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "signature refused" in reply.provenance.unavailable_reason
        assert regulator.stats["refused"] == 1
    finally:
        await regulator.stop()


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


def _json(payload) -> web.Response:
    return web.Response(body=json.dumps(payload, ensure_ascii=False).encode(),
                        content_type="application/json", charset="utf-8")


def _found(lic, **changes) -> web.Response:
    row = {k: v for k, v in {**record(lic), **changes}.items() if v is not ...}
    return _json({"retCode": "0000", "retMsg": "查询成功", "result": [row]})


async def _truncated(request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write('{"retCode": "0000", "result": [{"jgbm": "B0001H1'.encode())
    request.transport.close()
    return resp


BROKEN = [
    ("invalid JSON", lambda x: web.Response(text='{"retCode": "0000", "result": [', content_type="application/json"),
     "not UTF-8 JSON"),
    ("HTML error page with 200", lambda x: web.Response(
        text="<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", content_type="text/html"), "not UTF-8 JSON"),
    ("JSON string", lambda x: _json("0000"), "not a JSON object"),
    ("no retCode", lambda x: _json({"retMsg": "成功", "result": [record(x)]}), "unknown retCode"),
    ("retCode as a number", lambda x: _json({"retCode": 0, "result": [record(x)]}), "unknown retCode"),
    ("unknown retCode", lambda x: _json({"retCode": "2077", "retMsg": "未知"}), "unknown retCode"),
    ("found without records", lambda x: _json({"retCode": "0000", "result": []}), "without records"),
    ("result is an object", lambda x: _json({"retCode": "0000", "result": record(x)}), "without records"),
    ("missing full name", lambda x: _found(x, jgqc=...), "required text field"),
    ("serial as a number", lambda x: _found(x, lsh=12345678), "required text field"),
    ("unknown status text", lambda x: _found(x, zt="暂停"), "unknown licence status"),
    ("malformed licence code", lambda x: _found(x, jgbm="B0001-H111000001"), "licence code is malformed"),
    ("licence of another institution", lambda x: _found(x, jgbm="B0002H111000001"), "does not match"),
    ("impossible print date", lambda x: _found(x, fzrq="20230230"), "print date is not a real date"),
    ("ISO approval date", lambda x: _found(x, pzrq="2003-03-01"), "approval date is not YYYYMMDD"),
    ("malformed credit code", lambda x: _found(x, tyshxydm="not-a-code"), "credit code is malformed"),
    ("truncated body", lambda x: _truncated, "truncated"),
    ("10 MB body", lambda x: web.Response(body=b"[" * (10 * 1024 * 1024), content_type="application/json"), "exceeds"),
    ("GBK bytes declared UTF-8", lambda x: web.Response(
        body=json.dumps({"retCode": "0000", "result": [record(x)]}, ensure_ascii=False).encode("gbk"),
        content_type="application/json", charset="utf-8"), "not UTF-8 JSON"),
]


@pytest.mark.parametrize("label,make,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(
        node_for, fake_upstream, world, samples, label, make, reason):
    lic = licence(world, samples["financial_license"]["licensed_bank"][0]["license_code"])

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        reply = make(lic)  # a new response per request: one cannot be sent twice
        return await reply(request) if callable(reply) else reply

    node = await node_for({"financial_license": await fake_upstream(handle)})
    reply = await query(node, license_code=lic.license_code)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.licenses
    assert reason in reply.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(), "license_code": lic.license_code})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"
    assert reason in body["provenance"]["unavailable_reason"]


async def test_busy_regulator_is_retried_then_unavailable(node_for, fake_upstream, samples):
    calls = []

    async def handle(request):
        calls.append(request.path)
        return _json({"retCode": "9999", "retMsg": "系统繁忙"})

    node = await node_for({"financial_license": await fake_upstream(handle)})
    reply = await query(node, license_code=samples["financial_license"]["licensed_bank"][0]["license_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "busy" in reply.provenance.unavailable_reason
    assert len(calls) > 1  # transient: the hub tried again within the deadline
