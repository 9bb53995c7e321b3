"""LookupOrganization and VerifyEnterprise end to end: node (gRPC and JSON) -> 市场监管总局 connector
(企业基本信息查询 / 验证) -> mock register, over real sockets; golden requests and replies written from
INTERFACES.md §6 with made-up values; then a register that breaks the documented shapes."""
from __future__ import annotations

import dataclasses
import json
import random
import re
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from connectors.base.ministry import lower_keys
from connectors.credit_code.reply import parse, parse_check
from connectors.credit_code.types import CheckOutcome, EnterpriseCheckQuery
from mocks.credit_code import CreditCodeDepartment
from mocks.world import make_credit_code
from querynode.domain.model import OrganizationQuery, OrganizationStatus
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
    return await node_for({"credit_code": samr.url})


def by_code(world, code: str):
    return next(o for o in world.organizations if o.credit_code == code)


async def lookup(node, **key) -> pb.LookupOrganizationResponse:
    return await node.stub.LookupOrganization(pb.LookupOrganizationRequest(context=ctx(), **key))


async def post_json(node, body: dict, path: str = "/api/v1/organizations/lookup") -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}{path}", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


async def verify(node, **key) -> tuple[int, dict]:
    return await post_json(node, {"context": json_ctx(), **key}, "/api/v1/enterprises/verify")


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
    assert len(samr.requests) == 2


async def test_unknown_name_is_not_found(node):
    reply = await lookup(node, name="北京从未注册过的测试有限公司")
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND


async def test_pilot_code_failing_its_check_is_asked_with_a_warning(node, samr, samples):
    code = samples["credit_code"]["pilot_code"][0]["credit_code"]
    reply = await lookup(node, credit_code=code)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    assert any(w.startswith("统一社会信用代码：") and "试点" in w for w in reply.warnings)
    assert len(samr.requests) == 1


async def test_the_register_is_asked_with_the_documented_item(node, samr, samples):
    sample = samples["credit_code"]["active"][0]
    await lookup(node, credit_code=sample["credit_code"])
    await lookup(node, name=sample["name"])
    assert samr.requests == [{"entname": "", "uniscid": sample["credit_code"]}, {"entname": sample["name"], "uniscid": ""}]


async def test_wrong_secret_is_source_unavailable_not_a_verdict(node_for, world, samples):
    samr = CreditCodeDepartment(world, {APP_ID: "another secret"})
    await samr.start()
    try:
        node = await node_for({"credit_code": samr.url})
        reply = await lookup(node, credit_code=samples["credit_code"]["active"][0]["credit_code"])
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "signature refused" in reply.provenance.unavailable_reason
        assert samr.requests == []
    finally:
        await samr.stop()


async def test_a_name_shared_by_several_companies_gives_them_all(node_for, world, dept_secret):
    """Names of deregistered companies may be registered again: five records share a name here."""
    base = next(o for o in world.organizations if o.status == "存续")
    namesakes = [dataclasses.replace(o, name=base.name) for o in world.organizations[1:5] if o is not base]
    crowded = dataclasses.replace(world, organizations=[*world.organizations, *namesakes])
    samr = CreditCodeDepartment(crowded, {APP_ID: dept_secret})
    await samr.start()
    try:
        node = await node_for({"credit_code": samr.url})
        reply = await lookup(node, name=base.name)
        assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
        assert sorted(o.credit_code for o in reply.organizations) == sorted(
            o.credit_code for o in [base, *namesakes])
        assert {o.name for o in reply.organizations} == {base.name}
        # the register cannot tell which one a verify by name alone means: 02, left to a person
        status, body = await verify(node, credit_code=samples_code_not_held(crowded), name=base.name)
        assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"
        assert "ambiguous" in body["provenance"]["unavailable_reason"]
    finally:
        await samr.stop()


def samples_code_not_held(world) -> str:
    from mocks.credit_code import samples
    return samples(world)["not_found"][0]["credit_code"]


# ------------------------------------------------------------------ verify (企业基本信息验证)


async def test_verify_name_and_code_that_agree_is_a_match(node, samr, samples):
    sample = samples["credit_code"]["revoked"][0]
    status, body = await verify(node, credit_code=sample["credit_code"], name=sample["name"])
    assert status == 200 and body["verdict"] == "MATCH"
    assert body["result"] == {"outcome": "MATCH", "status": "REVOKED", "status_text": "吊销，未注销", "differences": []}
    assert samr.check.requests == [{"entname": sample["name"], "uniscid": sample["credit_code"]}]


async def test_verify_another_name_is_a_mismatch_naming_the_difference(node, samples):
    sample = samples["credit_code"]["active"][0]
    status, body = await verify(node, credit_code=sample["credit_code"], name="北京另一家测试有限公司")
    assert status == 200 and body["verdict"] == "MISMATCH"
    assert body["result"]["differences"] == [
        {"item": "entname", "given": "北京另一家测试有限公司", "registered": sample["name"]}]


async def test_verify_an_unknown_company_is_not_found(node, samples):
    status, body = await verify(node, credit_code=samples["credit_code"]["not_found"][0]["credit_code"],
                                name="北京从未注册过的测试有限公司")
    assert status == 200 and body["verdict"] == "NOT_FOUND"


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
    node = await node_for({"credit_code": f"http://127.0.0.1:{_closed_port()}"})
    reply = await lookup(node, credit_code=samples["credit_code"]["active"][0]["credit_code"])
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "cannot connect" in reply.provenance.unavailable_reason


# ------------------------------------------------------------------ golden pairs (INTERFACES.md §6, made-up values)

CODE = make_credit_code(random.Random(16), "9", "1", "320105")  # made up, valid
OTHER = CODE[:-1] + ("0" if CODE[-1] != "0" else "1")
ROW = {"entname": "某某科技有限公司", "uniscid": CODE, "regno": "320105000123456", "enttypeCn": "有限责任公司(自然人投资或控股)",
       "regcap": 500, "regcapcurCn": "人民币元", "estdate": 984672000000, "apprdate": 1546272000000,
       "regstateCn": "存续（在营、开业、在册）", "regorgCn": "某市某区市场监督管理局", "opfrom": 984672000000, "opto": None,
       "name": "王五", "dom": "某市某区某路9号", "opscope": "技术开发", "sExtNodenum": "320000"}
CHECK = {"ent_idx": {"entname": "某某科技有限公司", "uniscid": CODE}, "entchk_checkres_key": "03",
         "regstateCn": "存续", "diff_list": [], "_map_": {}}


def reply_body(data, status: str = "0200") -> bytes:
    return json.dumps({"head": {"status": status, "msg": "正常"}, "data": data}, ensure_ascii=False).encode()


async def test_the_requests_are_the_documented_shape(node_for, fake_upstream):
    seen = []

    async def handle(request):
        body = json.loads(await request.read())
        seen.append((request.path, body))
        return web.Response(body=reply_body([] if request.path.endswith("query") else CHECK),
                            content_type="application/json")
    node = await node_for({"credit_code": await fake_upstream(handle)})
    assert (await lookup(node, credit_code=CODE)).verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    status, body = await verify(node, credit_code=CODE, name="某某科技有限公司")
    assert status == 200 and body["verdict"] == "MATCH"
    assert [(b["head"]["requestType"], b["data"]) for _, b in seen] == [
        ("zw_samr_enterprise_query", {"entname": "", "uniscid": CODE}),
        ("zw_samr_enterprise_check", {"entname": "某某科技有限公司", "uniscid": CODE})]
    assert all(re.fullmatch(r"\d{20}", b["head"]["cxqqdh"]) for _, b in seen)


@pytest.mark.parametrize("spell", [str.lower, str.upper, lambda k: k], ids=["lower", "UPPER", "camelCase"])
def test_documented_query_row_is_read_in_any_case(spell):
    [org] = parse(lower_keys([{spell(k): v for k, v in ROW.items()}]), OrganizationQuery(credit_code=CODE)).organizations
    assert (org.credit_code, org.name, org.legal_representative, org.org_type) == (
        CODE, "某某科技有限公司", "王五", "有限责任公司(自然人投资或控股)")
    assert (org.registered_capital, org.established_on, org.issuing_office) == (
        "500万元人民币", "2001-03-16", "某市某区市场监督管理局")  # 984672000000 ms is 2001-03-16 in Shanghai
    assert (org.status, org.status_text, org.domicile, org.scope) == (
        OrganizationStatus.ACTIVE, "存续（在营、开业、在册）", "某市某区某路9号", "技术开发")


def test_the_other_spelling_of_the_type_field_is_read():
    row = {k: v for k, v in ROW.items() if k != "enttypeCn"} | {"enttypCn": "股份有限公司"}
    [org] = parse(lower_keys([row]), OrganizationQuery(credit_code=CODE)).organizations
    assert org.org_type == "股份有限公司"


@pytest.mark.parametrize("estdate,want", [
    (984672000000, "2001-03-16"),  # 2001-03-15 16:00 UTC: the Shanghai day, not the UTC one
    (984672000000 - 1, "2001-03-15"),
    ("984672000000", "2001-03-16"), (20010316000000, "2001-03-16"), ("2001-03-16", "2001-03-16"),
    ("2001-03-16 00:00:00", "2001-03-16"), (None, ""),
])
def test_dates_in_every_spelling_seen(estdate, want):
    [org] = parse(lower_keys([ROW | {"estdate": estdate}]), OrganizationQuery(credit_code=CODE)).organizations
    assert org.established_on == want


@pytest.mark.parametrize("text,status", [
    ("存续（在营、开业、在册）", OrganizationStatus.ACTIVE), ("存续", OrganizationStatus.ACTIVE),
    ("在业", OrganizationStatus.ACTIVE), ("开业", OrganizationStatus.ACTIVE), ("正常", OrganizationStatus.ACTIVE),
    (" 在营（开业） ", OrganizationStatus.ACTIVE), ("吊销", OrganizationStatus.REVOKED),
    ("吊销,未注销", OrganizationStatus.REVOKED), ("吊销.未注销", OrganizationStatus.REVOKED),
    ("吊销，未注销", OrganizationStatus.REVOKED), ("吊销，已注销", OrganizationStatus.CANCELLED),
    ("注销", OrganizationStatus.CANCELLED), ("已注销", OrganizationStatus.CANCELLED),
])
def test_free_text_states_are_normalised(text, status):
    [org] = parse(lower_keys([ROW | {"regstateCn": text}]), OrganizationQuery(credit_code=CODE)).organizations
    assert (org.status, org.status_text) == (status, text.strip())


@pytest.mark.parametrize("key,outcome", [("03", CheckOutcome.MATCH), ("01", CheckOutcome.NOT_FOUND), (3, CheckOutcome.MATCH)])
def test_documented_verify_replies_are_read(key, outcome):
    got = parse_check(lower_keys(CHECK | {"entchk_checkres_key": key}), EnterpriseCheckQuery(CODE, "某某科技有限公司"))
    assert got.outcome == outcome
    got = parse_check(lower_keys([CHECK | {"entchk_checkres_key": key}]), EnterpriseCheckQuery(CODE, "某某科技有限公司"))
    assert got.outcome == outcome  # cxjg as a one-item array


def test_a_documented_mismatch_names_its_differences():
    data = CHECK | {"entchk_checkres_key": "04", "diff_list": [
        {"chk_key": "entname", "in_val": "某某科技公司", "out_val": "某某科技有限公司"}]}
    got = parse_check(lower_keys(data), EnterpriseCheckQuery(CODE, "某某科技公司"))
    assert got.outcome == CheckOutcome.MISMATCH and got.status == "ACTIVE"
    assert [(d.item, d.given, d.registered) for d in got.differences] == [("entname", "某某科技公司", "某某科技有限公司")]


# ------------------------------------------------------------------ broken upstream


async def _truncated(request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write(b'{"head": {"status": "0200"}, "data": [{"uniscid": "9132')
    request.transport.close()
    return resp


def _without(key: str) -> dict:
    return {k: v for k, v in ROW.items() if k != key}


BROKEN_QUERY = [
    ("invalid JSON", b'{"head": {"status": "0200"}, "data": [', "not UTF-8 JSON"),
    ("HTML error page with 200", b"<html><body>502 Bad Gateway</body></html>", "not UTF-8 JSON"),
    ("no head status", json.dumps({"data": [ROW]}).encode(), "no head status"),
    ("permission refused 0303", reply_body(None, "0303"), "0303"),
    ("data a string", reply_body("查询成功"), "not a list of rows"),
    ("row is a string", reply_body(["某某科技有限公司"]), "not an object"),
    ("unknown state (迁出): left to a person", reply_body([ROW | {"regstateCn": "迁出"}]), "does not know"),
    ("unknown state (撤销)", reply_body([ROW | {"regstateCn": "撤销"}]), "does not know"),
    ("empty state", reply_body([ROW | {"regstateCn": " "}]), "required text field"),
    ("missing name of the company", reply_body([_without("entname")]), "required text field"),
    ("legal representative as a list", reply_body([ROW | {"name": ["王五"]}]), "not text"),
    ("control character", reply_body([ROW | {"dom": "某路\x00"}]), "control characters"),
    ("malformed credit code", reply_body([ROW | {"uniscid": "9132-0105"}]), "credit code is malformed"),
    ("a company of another code", reply_body([ROW | {"uniscid": OTHER}]), "does not match"),
    ("same company twice", reply_body([ROW, ROW]), "repeated"),
    ("capital as text words", reply_body([ROW | {"regcap": "五百万"}]), "not a number"),
    ("negative capital", reply_body([ROW | {"regcap": -1}]), "out of range"),
    ("date as a negative number", reply_body([ROW | {"estdate": -5}]), "epoch milliseconds"),
    ("date in the year 2500", reply_body([ROW | {"estdate": 16725225600000}]), "epoch milliseconds"),
    ("date as slashes", reply_body([ROW | {"estdate": "16/03/2001"}]), "epoch milliseconds"),
    ("GBK bytes declared UTF-8", json.dumps({"head": {"status": "0200"}, "data": [ROW]}, ensure_ascii=False).encode("gbk"),
     "not UTF-8 JSON"),
]


@pytest.mark.parametrize("label,body,reason", BROKEN_QUERY, ids=[b[0] for b in BROKEN_QUERY])
async def test_broken_query_reply_is_source_unavailable_and_node_keeps_serving(
        node_for, fake_upstream, label, body, reason):
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    node = await node_for({"credit_code": await fake_upstream(handle)})
    reply = await lookup(node, credit_code=CODE)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.organizations
    assert reason in reply.provenance.unavailable_reason
    assert "王五" not in reply.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(), "credit_code": CODE})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"


BROKEN_CHECK = [
    ("02 ambiguous", CHECK | {"entchk_checkres_key": "02"}, "ambiguous"),
    ("05 request refused", CHECK | {"entchk_checkres_key": "05"}, "(05)"),
    ("06 error", CHECK | {"entchk_checkres_key": "06"}, "(06)"),
    ("unknown key 07", CHECK | {"entchk_checkres_key": "07"}, "unknown entchk_checkres_key"),
    ("no key", {k: v for k, v in CHECK.items() if k != "entchk_checkres_key"}, "unknown entchk_checkres_key"),
    ("about another code", CHECK | {"ent_idx": {"entname": "某某科技有限公司", "uniscid": OTHER}},
     "another credit code"),
    ("unknown state", CHECK | {"regstateCn": "迁出"}, "does not know"),
    ("04 naming no difference", CHECK | {"entchk_checkres_key": "04"}, "names no difference"),
    ("03 listing differences", CHECK | {"diff_list": [{"chk_key": "entname", "in_val": "a", "out_val": "b"}]},
     "lists differences"),
    ("diff_list an object", CHECK | {"entchk_checkres_key": "04", "diff_list": {"chk_key": "entname"}}, "not a list"),
    ("a list of two results", [CHECK, CHECK], "not an object"),
]


@pytest.mark.parametrize("label,data,reason", BROKEN_CHECK, ids=[b[0] for b in BROKEN_CHECK])
async def test_broken_verify_reply_is_source_unavailable(node_for, fake_upstream, label, data, reason):
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=reply_body(data), content_type="application/json", charset="utf-8")

    node = await node_for({"credit_code": await fake_upstream(handle)})
    status, body = await verify(node, credit_code=CODE, name="某某科技有限公司")
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE" and not body["result"]
    assert reason in body["provenance"]["unavailable_reason"]


async def test_truncated_reply_is_source_unavailable(node_for, fake_upstream):
    node = await node_for({"credit_code": await fake_upstream(_truncated)})
    reply = await lookup(node, credit_code=CODE)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and "truncated" in reply.provenance.unavailable_reason
