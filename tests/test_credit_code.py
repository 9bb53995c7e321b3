"""LookupOrganization end to end: node (gRPC and JSON) -> credit-code connector -> mock SAMR,
over real sockets; then a SAMR that breaks its protocol in every way we know of."""
from __future__ import annotations

import dataclasses
import json
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mocks.credit_code import CreditCodeDepartment, record
from querynode.domain.model import Department
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, json_ctx

STATUS = {"存续": pb.ORGANIZATION_STATUS_ACTIVE, "吊销": pb.ORGANIZATION_STATUS_REVOKED,
          "注销": pb.ORGANIZATION_STATUS_CANCELLED}
JSON_STATUS = {"存续": "ACTIVE", "吊销": "REVOKED", "注销": "CANCELLED"}


@pytest.fixture
async def samr(start_mock) -> CreditCodeDepartment:
    return await start_mock(CreditCodeDepartment)


@pytest.fixture
async def node(node_for, samr):
    return await node_for({Department.CREDIT_CODE: samr.url})


def by_code(world, code: str):
    return next(o for o in world.organizations if o.credit_code == code)


async def lookup(node, **key) -> pb.LookupOrganizationResponse:
    return await node.stub.LookupOrganization(pb.LookupOrganizationRequest(context=ctx(), **key))


async def post_json(node, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/organizations/lookup", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


def searches(dept: CreditCodeDepartment) -> int:
    return dept.stats["requests"] - dept.stats["token"]


# ------------------------------------------------------------------ answers


async def test_active_company_is_found_with_every_field(node, samr, samples, world):
    sample = samples["credit_code"]["active"][0]
    reply = await lookup(node, credit_code=sample["credit_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert len(reply.organizations) == 1
    got, want = reply.organizations[0], by_code(world, sample["credit_code"])
    assert (got.credit_code, got.name, got.legal_representative) == (want.credit_code, want.name,
                                                                        want.legal_representative.name)
    assert (got.org_type, got.domicile, got.registered_capital) == (want.org_type, want.domicile,
                                                                    want.registered_capital)
    assert got.established_on == want.established_on.isoformat()
    assert (got.issuing_office, got.scope) == (want.issuing_office, want.scope)
    assert got.status == pb.ORGANIZATION_STATUS_ACTIVE and got.status_text == "存续（在营、开业、在册）"
    assert reply.provenance.department == pb.DEPARTMENT_CREDIT_CODE and reply.provenance.audit_id
    assert not reply.warnings


@pytest.mark.parametrize("group", ["active", "revoked", "cancelled"])
async def test_status_maps_by_code_over_grpc(node, samples, group):
    sample = samples["credit_code"][group][0]
    reply = await lookup(node, credit_code=sample["credit_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert [o.status for o in reply.organizations] == [STATUS[sample["status"]]]


@pytest.mark.parametrize("group", ["active", "revoked", "cancelled"])
async def test_status_maps_by_exact_name_over_json(node, samples, group):
    sample = samples["credit_code"][group][0]
    status, body = await post_json(node, {"context": json_ctx(), "name": sample["name"]})
    assert status == 200 and body["verdict"] == "FOUND"
    [org] = body["result"]["organizations"]
    assert (org["credit_code"], org["status"]) == (sample["credit_code"], JSON_STATUS[sample["status"]])


async def test_licensed_bank_has_a_credit_code_record(node, samples, world):
    sample = samples["credit_code"]["active"][1]
    reply = await lookup(node, name=sample["name"])
    assert [o.credit_code for o in reply.organizations] == [sample["credit_code"]]
    assert reply.organizations[0].registered_capital == by_code(world, sample["credit_code"]).registered_capital


async def test_unknown_code_is_not_found_over_grpc_and_json(node, samr, samples):
    code = samples["credit_code"]["not_found"][0]["credit_code"]
    reply = await lookup(node, credit_code=code)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply.organizations
    status, body = await post_json(node, {"context": json_ctx(fresh=True), "credit_code": code})
    assert status == 200 and body["verdict"] == "NOT_FOUND" and body["result"]["organizations"] == []
    assert searches(samr) == 2


async def test_unknown_name_is_not_found(node):
    reply = await lookup(node, name="北京从未注册过的测试有限公司")
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND


async def test_pilot_code_failing_its_check_is_asked_with_a_warning(node, samr, samples):
    code = samples["credit_code"]["pilot_code"][0]["credit_code"]
    reply = await lookup(node, credit_code=code)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    assert any(w.startswith("统一社会信用代码：") and "试点" in w for w in reply.warnings)
    assert searches(samr) == 1


async def test_request_id_is_forwarded(node, samr, samples):
    sample = samples["credit_code"]["active"][0]
    await node.stub.LookupOrganization(pb.LookupOrganizationRequest(
        context=ctx(request_id="req-credit-0001"), credit_code=sample["credit_code"]))
    assert samr.request_ids == ["req-credit-0001"]


async def test_expired_token_is_renewed_once(node, samr, samples):
    sample = samples["credit_code"]["active"][0]
    await lookup(node, credit_code=sample["credit_code"])
    samr.revoke_tokens()
    reply = await node.stub.LookupOrganization(pb.LookupOrganizationRequest(
        context=ctx(fresh=True), credit_code=sample["credit_code"]))
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert samr.stats["token"] == 2 and samr.stats["refused"] == 1


async def test_wrong_secret_is_source_unavailable_not_a_verdict(node_for, world, samples):
    samr = CreditCodeDepartment(world, {APP_ID: "another secret"})
    await samr.start()
    try:
        node = await node_for({Department.CREDIT_CODE: samr.url})
        reply = await lookup(node, credit_code=samples["credit_code"]["active"][0]["credit_code"])
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "credentials refused" in reply.provenance.unavailable_reason
        assert searches(samr) == 0
    finally:
        await samr.stop()


async def test_name_search_fetches_every_page(node_for, world, dept_secret):
    """Names of deregistered companies may be registered again: five records share a name here,
    and the register serves two per page."""
    base = next(o for o in world.organizations if o.status == "存续")
    namesakes = [dataclasses.replace(o, name=base.name) for o in world.organizations[1:5] if o is not base]
    crowded = dataclasses.replace(world, organizations=[*world.organizations, *namesakes])
    samr = CreditCodeDepartment(crowded, {APP_ID: dept_secret}, max_page_size=2)
    await samr.start()
    try:
        node = await node_for({Department.CREDIT_CODE: samr.url})
        reply = await lookup(node, name=base.name)
        assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
        assert sorted(o.credit_code for o in reply.organizations) == sorted(
            o.credit_code for o in [base, *namesakes])
        assert {o.name for o in reply.organizations} == {base.name}
        assert searches(samr) == 3  # 5 records, 2 per page
    finally:
        await samr.stop()


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
    ("17 characters", {"credit_code": "91110105MA01ABCD1"}, "credit_code"),
    ("letter I", {"credit_code": "91110105MA01ABCI1X"}, "credit_code"),
    ("lower-case z", {"credit_code": "91110105ma01abcz1x"}, "credit_code"),
    ("one-character name", {"name": "华"}, "name"),
    ("markup in name", {"name": "<b>华鑫</b>有限公司"}, "name"),
    ("neither key", {}, "credit_code|name"),
])
async def test_bad_input_is_invalid_argument_and_never_reaches_samr(node, samr, label, key, field):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await lookup(node, **key)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert samr.stats["requests"] == 0


@pytest.mark.parametrize("label,key,field", [
    ("both keys", {"credit_code": "91110105MA01ABCD1X", "name": "北京华鑫科技有限公司"}, "credit_code|name"),
    ("code not a string", {"credit_code": 911101051234567890}, "credit_code"),
    ("bad check-free length", {"credit_code": "9111010"}, "credit_code"),
])
async def test_bad_json_input_is_problem_json_and_never_reaches_samr(node, samr, label, key, field):
    status, problem = await post_json(node, {"context": json_ctx(), **key})
    assert status == 400
    assert [p["name"] for p in problem["invalid_params"]] == [field]
    assert samr.stats["requests"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_department_down_is_source_unavailable(node_for, samples):
    node = await node_for({Department.CREDIT_CODE: f"http://127.0.0.1:{_closed_port()}"})
    reply = await lookup(node, credit_code=samples["credit_code"]["active"][0]["credit_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "cannot connect" in reply.provenance.unavailable_reason


# ------------------------------------------------------------------ broken upstream


def _json(payload, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(payload, ensure_ascii=False).encode(), status=status,
                        content_type="application/json", charset="utf-8")


def _page(rows, total=None, page_no=1, page_size=20, code="0000") -> web.Response:
    return _json({"code": code, "msg": "查询成功", "data": {
        "total": len(rows) if total is None else total, "pageNo": page_no, "pageSize": page_size, "list": rows}})


def _altered(org, **changes) -> list[dict]:
    row = record(org)
    row.update(changes)
    return [{k: v for k, v in row.items() if v is not ...}]


async def _truncated(request, body) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write(b'{"code": "0000", "data": {"total": 1, "list": [')
    request.transport.close()
    return resp


async def _chunked_huge(request, body) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for _ in range(10):
        await resp.write(b" " * (1024 * 1024))
    await resp.write_eof()
    return resp


BROKEN = [
    ("invalid JSON", lambda o: lambda r, b: web.Response(text='{"code": "0000", "data": {', content_type="application/json"),
     "not UTF-8 JSON"),
    ("HTML error page with 200", lambda o: lambda r, b: web.Response(
        text="<html><body><h1>系统维护中</h1></body></html>", content_type="text/html"), "not UTF-8 JSON"),
    ("JSON array", lambda o: lambda r, b: _json([1, 2]), "not a JSON object"),
    ("no data", lambda o: lambda r, b: _json({"code": "0000", "msg": "查询成功"}), "no data"),
    ("missing legal representative", lambda o: lambda r, b: _page(_altered(o, NAME=...)), "required text field"),
    ("name is a number", lambda o: lambda r, b: _page(_altered(o, ENTNAME=12345)), "required text field"),
    ("total is text", lambda o: lambda r, b: _json({"code": "0000", "data": {
        "total": "1", "pageNo": 1, "pageSize": 20, "list": _altered(o)}}), "paging fields"),
    ("unknown status text", lambda o: lambda r, b: _page(_altered(o, REGSTATE_CN="迁出")), "unknown registration status"),
    ("unknown reply code", lambda o: lambda r, b: _page(_altered(o), code="7777"), "unknown reply code"),
    ("record of another company", lambda o: lambda r, b: _page(_altered(o, UNISCID="91110105MA01ABCD1X")),
     "does not match"),
    ("impossible date", lambda o: lambda r, b: _page(_altered(o, ESTDATE="2023-02-30")), "not a real date"),
    ("capital not a number", lambda o: lambda r, b: _page(_altered(o, REGCAP="五百")), "registered capital"),
    ("more records than the paging says", lambda o: lambda r, b: _page(_altered(o) * 2, total=1), "another number"),
    ("page short of its total", lambda o: lambda r, b: _page(_altered(o), total=3, page_size=2), "another number"),
    ("reply for another page", lambda o: lambda r, b: _page(_altered(o), page_no=2), "another page"),
    ("paging changes between pages", lambda o: lambda r, b: _page(
        _altered(o), total=2 + b["pageNo"], page_no=b["pageNo"], page_size=1), "paging changed"),
    ("same record on two pages", lambda o: lambda r, b: _page(
        _altered(o), total=2, page_no=b["pageNo"], page_size=1), "repeated"),
    ("too many pages", lambda o: lambda r, b: _page(_altered(o), total=100_000, page_size=1), "page limit"),
    ("truncated body", lambda o: _truncated, "truncated"),
    ("10 MB body", lambda o: lambda r, b: web.Response(body=b" " * (10 * 1024 * 1024), content_type="application/json"),
     "exceeds"),
    ("10 MB chunked body", lambda o: _chunked_huge, "exceeds"),
    ("GBK bytes declared UTF-8", lambda o: lambda r, b: web.Response(
        body=json.dumps({"code": "0000", "msg": "查询成功"}, ensure_ascii=False).encode("gbk"),
        content_type="application/json", charset="utf-8"), "not UTF-8 JSON"),
]


def _broken_samr(search):
    """A SAMR whose token endpoint works and whose search answers with `search(request, body)`."""
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/samr/oauth/token":
            return _json({"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 7200})
        reply = search(request, await request.json())
        return await reply if hasattr(reply, "__await__") else reply
    return handle


@pytest.mark.parametrize("label,make,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(
        node_for, fake_upstream, world, samples, label, make, reason):
    org = by_code(world, samples["credit_code"]["active"][0]["credit_code"])
    url = await fake_upstream(_broken_samr(make(org)))
    node = await node_for({Department.CREDIT_CODE: url})
    reply = await lookup(node, credit_code=org.credit_code)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.organizations
    assert reason in reply.provenance.unavailable_reason
    assert org.legal_representative.name not in reply.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(), "credit_code": org.credit_code})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"
    assert reason in body["provenance"]["unavailable_reason"]


@pytest.mark.parametrize("label,token_reply,reason", [
    ("token reply without token", {"token_type": "Bearer", "expires_in": 7200}, "access_token"),
    ("token lifetime as text", {"access_token": "abc", "expires_in": "7200"}, "expires_in"),
])
async def test_broken_token_reply_is_source_unavailable(node_for, fake_upstream, samples, label, token_reply, reason):
    async def handle(request):
        return _json(token_reply)
    node = await node_for({Department.CREDIT_CODE: await fake_upstream(handle)})
    reply = await lookup(node, credit_code=samples["credit_code"]["active"][0]["credit_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert reason in reply.provenance.unavailable_reason
