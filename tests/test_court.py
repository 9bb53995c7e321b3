"""QueryJudgments through the node (gRPC and JSON) against the asynchronous mock court (GF01 apply,
GF99 feedback, INTERFACES.md §8), directly and over the 部级接口 gateway; golden requests and replies
written from §8 with made-up values, every §13 quirk that applies; and courts that break the
protocol in every way we know of: SOURCE_UNAVAILABLE, never a verdict."""
from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
from collections.abc import Callable
from dataclasses import replace

import aiohttp
import grpc
import pytest
from aiohttp import web

from connectors.court.client import apply_request
from connectors.relay.contract import Service
from connectors.court.reply import parse
from mocks.court import CourtDepartment, case_xml
from mocks.court_cases import generate
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx, make_settings, start_node
from tests.relay_support import call, gateway, over_gateway, provincial, relay_keys  # noqa: F401  (fixtures)
from tests.test_identity_grpc import bad_request_fields


@pytest.fixture
async def court(start_mock) -> CourtDepartment:
    return await start_mock(CourtDepartment, ready_after=0.2)


@pytest.fixture
async def node(node_for, court):
    return await node_for({"court": court.url})


@pytest.fixture(scope="module")
def docket(world):
    return {c.case_number: c for c in generate(world)}


async def query(node, timeout: float | None = None, context=None, **key) -> pb.QueryJudgmentsResponse:
    return await node.stub.QueryJudgments(pb.QueryJudgmentsRequest(context=context or ctx(), **key), timeout=timeout)


async def post_json(node, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/judgments/query", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


# ------------------------------------------------------------------ found, not found, pending


async def test_sale_judgment_by_case_number_has_every_field(node, court, samples, docket):
    sample = samples["court"]["sale_judgment"]
    case = docket[sample["case_number"]]
    reply_ = await query(node, case_number=sample["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_FOUND and not reply_.pending
    [j] = reply_.judgments
    assert (j.case_number, j.court, j.cause, j.document_type) == (
        case.case_number, "北京市朝阳区人民法院", "房屋买卖合同纠纷", "判决书")
    assert j.decided_on == case.documents[0].decided_on.isoformat()
    assert [(p.role, p.id_number) for p in j.parties] == [(p.role, p.identifier) for p in case.parties]
    assert j.operative_text.startswith("判决如下")
    assert "所有权转移登记手续" in j.operative_text
    assert not re.search(r"[<>]|&\w+;", j.operative_text), "operative text must be plain text"
    assert "如不服本判决" not in j.operative_text and "审判员" not in j.operative_text
    assert "本院认为" not in j.operative_text
    assert reply_.provenance.department == pb.DEPARTMENT_COURT
    assert court.stats["submitted"] == 1 and court.stats["not_ready"] >= 1


async def test_seizure_ruling_and_debt_in_kind(node, samples):
    seizure = await query(node, case_number=samples["court"]["seizure_ruling"]["case_number"])
    [ruling] = seizure.judgments
    assert ruling.document_type == "裁定书" and ruling.operative_text.startswith("裁定如下")
    assert "查封被执行人" in ruling.operative_text
    assert {p.role for p in ruling.parties} == {"申请执行人", "被执行人"}
    in_kind = await query(node, case_number=samples["court"]["debt_in_kind"]["case_number"])
    assert [j.document_type for j in in_kind.judgments] == ["裁定书", "裁定书"]
    seized, handed = in_kind.judgments
    assert "查封" in seized.operative_text and "抵偿" in handed.operative_text
    assert "所有权自本裁定送达" in handed.operative_text and seized.decided_on < handed.decided_on


@pytest.mark.parametrize("bracket", ["full", "half"])
async def test_old_zi_di_number_is_normalised(node, samples, bracket):
    sample = samples["court"]["old_form"]
    asked = sample["case_number"] if bracket == "full" else sample["half_width"]
    reply_ = await query(node, case_number=asked)
    [j] = reply_.judgments
    assert "字第" in j.case_number and j.case_number == sample["case_number"]  # court printed ( ), node gives （）


async def test_both_bracket_styles_give_the_same_answer(node, samples):
    sample = samples["court"]["sale_judgment"]
    full = await query(node, case_number=sample["case_number"])
    half = await query(node, context=ctx(fresh=True), case_number=sample["half_width"])
    assert half.judgments == full.judgments and len(full.judgments) == 1


async def test_party_name_query_is_left_to_a_person_never_not_found(node, court, samples):
    """GF01 looks judgments up by 案号 only (its <data> has no party field): the node says so."""
    sample = samples["court"]["party_with_several_cases"]
    reply_ = await query(node, party_name=sample["party_name"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply_.judgments
    assert "案号 only" in reply_.provenance.unavailable_reason
    assert sample["party_name"] not in reply_.provenance.unavailable_reason
    assert court.stats["requests"] == 0


async def test_a_case_number_brings_its_later_instances(node, samples, docket):
    """关联案件: a first-instance number also returns the appeal that cites it (生效 check)."""
    appealed = next(c for c in docket.values() if c.kind == "appealed")
    reply_ = await query(node, case_number=appealed.case_number)
    numbers = [j.case_number for j in reply_.judgments]
    assert numbers[0] == appealed.case_number and any("民终" in n for n in numbers[1:])
    appeal = reply_.judgments[-1]
    assert {p.role for p in appeal.parties} == {"上诉人", "被上诉人"} and appeal.court.endswith("中级人民法院")


async def test_unknown_case_number_is_not_found(node, court, samples):
    reply_ = await query(node, case_number=samples["court"]["no_record"]["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply_.judgments and not reply_.pending
    assert court.stats["submitted"] == 1


async def test_slow_court_gives_pending_before_the_deadline(node_for, start_mock, samples):
    court = await start_mock(CourtDepartment, ready_after=30)
    node = await node_for({"court": court.url})
    # A DEADLINE_EXCEEDED here would mean the node waited past the caller's deadline.
    reply_ = await query(node, timeout=1.5, case_number=samples["court"]["sale_judgment"]["case_number"])
    assert reply_.pending and not reply_.judgments and reply_.verdict == pb.LOOKUP_VERDICT_PENDING
    assert reply_.verdict != pb.LOOKUP_VERDICT_FOUND
    assert court.stats["submitted"] == 1 and court.stats["not_ready"] >= 2  # it polled, with backoff


async def test_asking_again_resumes_the_pending_query(node_for, start_mock, samples):
    court = await start_mock(CourtDepartment, ready_after=1.5)
    node = await node_for({"court": court.url})
    number = samples["court"]["sale_judgment"]["case_number"]
    first = await query(node, timeout=0.8, case_number=number)
    assert first.pending and not first.judgments
    await asyncio.sleep(1.0)
    again = await query(node, timeout=3, case_number=number)  # not fresh: a pending answer is never cached
    assert not again.pending and [j.case_number for j in again.judgments] == [number]
    assert not again.provenance.from_cache
    assert court.stats["submitted"] == 1  # the court's query was resumed, not started again


async def test_sample_marked_pending_is_slow_at_the_court(node_for, start_mock, samples):
    court = await start_mock(CourtDepartment, ready_after=0.1, slow_after=30)
    node = await node_for({"court": court.url})
    slow = await query(node, timeout=1.0, case_number=samples["court"]["pending"]["case_number"])
    quick = await query(node, timeout=2.0, case_number=samples["court"]["sale_judgment"]["case_number"])
    assert slow.pending and not quick.pending and quick.judgments


# ------------------------------------------------------------------ JSON door


async def test_json_found_not_found_and_party_left_to_a_person(node, samples):
    sale = samples["court"]["sale_judgment"]
    status, body = await post_json(node, {"context": json_ctx(), "case_number": sale["half_width"]})
    assert status == 200 and body["verdict"] == "FOUND"
    [j] = body["result"]["judgments"]
    assert j["case_number"] == sale["case_number"] and j["operative_text"].startswith("判决如下")
    assert body["result"]["pending"] is False
    status, body = await post_json(node, {"context": json_ctx(), "case_number": samples["court"]["no_record"]["case_number"]})
    assert status == 200 and body["verdict"] == "NOT_FOUND" and body["result"]["judgments"] == []
    party = samples["court"]["party_with_several_cases"]
    status, body = await post_json(node, {"context": json_ctx(), "party_name": party["party_name"]})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"


async def test_json_pending(node_for, start_mock, samples):
    court = await start_mock(CourtDepartment, ready_after=30)
    node = await node_for({"court": court.url})  # the JSON door gives every call the default deadline
    status, body = await post_json(node, {"context": json_ctx(), "case_number": samples["court"]["sale_judgment"]["case_number"]})
    assert status == 200 and body["verdict"] == "PENDING"
    assert body["result"]["pending"] is True and body["result"]["judgments"] == []


# ------------------------------------------------------------------ invalid input

BAD_NUMBERS = [
    ("no brackets", "2023京0105民初1234号"),
    ("no sequence", "（2023）京0105民初号"),
    ("future year", "（2099）京0105民初1号"),
    ("unknown province", "（2023）港0105民初1号"),
    ("unknown case type", "（2023）京0105民乙1号"),
    ("three-digit court", "（2023）京010民初1号"),
    ("missing 号", "（2023）京0105民初1234"),
    ("markup", "（2023）京0105民初1<b>号"),
    ("too long", "（2023）京0105民初1234号" * 3),
    ("blank", "   "),
]


@pytest.mark.parametrize("label,number", BAD_NUMBERS, ids=[b[0] for b in BAD_NUMBERS])
async def test_invalid_case_number_never_reaches_the_court(node, court, label, number):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await query(node, case_number=number)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(err.value) == ["case_number"]
    status, body = await post_json(node, {"context": json_ctx(), "case_number": number})
    assert status == 400 and "case_number" in str(body)
    assert court.stats["requests"] == 0


async def test_query_without_key_is_invalid(node, court):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await query(node)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert court.stats["requests"] == 0


# ------------------------------------------------------------------ golden pairs (INTERFACES.md §8, made-up values)

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
DOCUMENT = ("<html><head><title>x</title><script>var a=1;</script></head><body>"
            "<div>江苏省南京市玄武区人民法院</div><div>民 事 判 决 书</div><div>（2020）苏0102民初123号</div>"
            "<p>原告（反诉被告）：张三，男，1990年1月1日出生，汉族，住某市某区。</p>"
            "<p>被告：某某置业有限公司，住所地某市某路1号。法定代表人：李四。</p>"
            "<p>原告张三与被告某某置业有限公司房屋买卖合同纠纷一案，本院立案后，依法适用简易程序进行了审理。</p>"
            "<p>本院认为，……依照《中华人民共和国民法典》第五百零九条之规定，判决如下：</p>"
            "<p>被告某某置业有限公司于本判决生效之日起十日内协助原告张三办理某市某路1号房屋的所有权转移登记手续。</p>"
            "<p>如不服本判决，可以在判决书送达之日起十五日内上诉。</p><p>审判员　王五</p>"
            "<p>二〇二〇年十二月三十一日</p><p>书记员　赵六</p></body></html>")


def resource(cases: str, num: int = 1) -> str:
    return f"{DECLARATION}\n<RESOURCE><BRIEF><NUM>{num}</NUM></BRIEF><data>{cases}</data></RESOURCE>"


def t_aj(document: str = DOCUMENT, number: str = "（2020）苏0102民初123号", encoded: str | None = None) -> str:
    nr = encoded if encoded is not None else base64.b64encode(document.encode()).decode()
    return ("<t_aj><c_stm>0f0e0d0c-0b0a-0908-0706-050403020100</c_stm>"
            f"<c_ah>{number}</c_ah><c_gshah>{number}</c_gshah>"
            "<t_aj_dsr><c_mc>张三</c_mc><c_zjhm>320106199001011234</c_zjhm></t_aj_dsr>"
            "<t_aj_dsr><c_mc>某某置业有限公司</c_mc><c_zjhm>91320100MA00000000</c_zjhm></t_aj_dsr>"
            f"<t_ws><c_nr>{nr}</c_nr></t_ws></t_aj>")


GOLDEN = resource(t_aj())


def test_apply_request_is_the_documented_xml_inside_json():
    got = apply_request("（2024）苏0102民初12号", "20240105320100000003", "某市不动产登记中心", "320100", "张三",
                        "320100")
    assert got == {"xmlContent": (
        '<?xml version="1.0" encoding="UTF-8"?><datas><data><CXBM>某市不动产登记中心</CXBM><CXBMBH>320100</CXBMBH>'
        "<CXR>张三</CXR><CXRBH>320100</CXRBH><CXQQDH>20240105320100000003</CXQQDH>"
        "<AJBH>（2024）苏0102民初12号</AJBH></data></datas>")}
    assert apply_request("x", "1", "甲&乙<丙>", "", "", "")["xmlContent"].count("甲&amp;乙&lt;丙&gt;") == 1


def _escaped(xml: str) -> str:
    """As a relay hands it on: JSON-escaped inside an extra pair of quotes (\\", \\n, \\/)."""
    return json.dumps(xml, ensure_ascii=False).replace("/", "\\/")


def _mime(document: str) -> str:
    encoded = base64.b64encode(document.encode()).decode()
    return "\\r\\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)).replace("/", "\\/")


QUIRKS = {
    "as documented": GOLDEN,
    "escaped in extra quotes": _escaped(GOLDEN),
    "escapes without the quotes": _escaped(GOLDEN)[1:-1],
    "tag names in another case": GOLDEN.replace("RESOURCE", "resource").replace("t_aj>", "T_AJ>").replace(
        "c_ah>", "C_AH>").replace("NUM>", "num>"),
    "c_nr with escaped line breaks and slashes": resource(t_aj(encoded=_mime(DOCUMENT))),
    "c_nr in the URL-safe alphabet": resource(t_aj(encoded=base64.urlsafe_b64encode(DOCUMENT.encode()).decode())),
    "ASCII brackets in c_ah": resource(t_aj(number="(2020)苏0102民初123号")),
}


@pytest.mark.parametrize("text", QUIRKS.values(), ids=QUIRKS.keys())
def test_documented_feedback_is_read_with_every_quirk(text):
    [j] = parse(text)
    assert (j.case_number, j.court, j.cause, j.decided_on, j.document_type) == (
        "（2020）苏0102民初123号", "江苏省南京市玄武区人民法院", "房屋买卖合同纠纷", "2020-12-31", "判决书")
    assert [(p.name, p.role, p.id_number) for p in j.parties] == [
        ("张三", "原告", "320106199001011234"), ("某某置业有限公司", "被告", "91320100MA00000000")]
    assert j.operative_text.startswith("判决如下") and "所有权转移登记手续" in j.operative_text
    assert "如不服" not in j.operative_text and "var a" not in j.operative_text


@pytest.mark.parametrize("printed, iso", [("二〇二三年二月十日", "2023-02-10"), ("二○一九年五月六日", "2019-05-06"),
                                          ("二〇二〇年十月二十日", "2020-10-20"), ("二零一五年十一月三十日", "2015-11-30")])
def test_document_dates_as_courts_print_them(printed, iso):
    [j] = parse(resource(t_aj(DOCUMENT.replace("二〇二〇年十二月三十一日", printed))))
    assert j.decided_on == iso


@pytest.mark.parametrize("text", ["", '""', None, _escaped("")])
def test_empty_feedback_is_not_an_answer_yet(text):
    assert parse(text) is None


@pytest.mark.parametrize("text", [resource("", 0), f"{DECLARATION}<RESOURCE><BRIEF><NUM>0</NUM></BRIEF><data/></RESOURCE>",
                                  _escaped("<RESOURCE><BRIEF><NUM>0</NUM></BRIEF></RESOURCE>")])
def test_no_case_is_the_answer_not_found(text):
    assert parse(text) == ()


async def test_the_node_sends_gf01_then_gf99_with_one_request_number(node_for, fake_upstream):
    seen: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        seen.append(body)
        head = body["head"]
        data = GOLDEN if head["requestType"] == "GF99" else ""
        return web.json_response({"head": {"status": "0200", "msg": "正常", "requestType": head["requestType"],
                                           "cxqqdh": head["cxqqdh"]}, "data": data})
    node = await node_for({"court": await fake_upstream(handle)})
    reply_ = await query(node, case_number="(2020)苏0102民初123号")
    assert reply_.verdict == pb.LOOKUP_VERDICT_FOUND and reply_.judgments[0].court == "江苏省南京市玄武区人民法院"
    apply_, feedback = seen
    number = apply_["head"]["cxqqdh"]
    assert (apply_["head"]["requestType"], feedback["head"]["requestType"]) == ("GF01", "GF99")
    assert re.fullmatch(r"\d{8}110000\d{6}", number) and apply_["head"]["businessNumber"] == ctx().case_number
    assert apply_["data"] == apply_request("（2020）苏0102民初123号", number, "不动产登记中心", "110000",
                                           ctx().operator_id, "110000")
    assert feedback["data"] == {"cxqqdh": number}


# ------------------------------------------------------------------ over the 部级接口 gateway


@pytest.fixture
async def court_over_gateway(gateway, relay_keys, world, start_mock, tmp_path, dept_secret):  # noqa: F811
    mock, _ = gateway
    court = await start_mock(CourtDepartment, ready_after=0.2)
    mock.handlers.update({"GF01": court.apply, "GF99": court.feedback})
    settings = make_settings(tmp_path, {"court": mock.url}, dept_secret)
    over_gateway(settings, "court", relay_keys, tmp_path)
    settings.departments["court"].options.update({"dept_name": "某市不动产登记局", "dept_code": "340100"})
    node, stop = await start_node(settings)
    yield mock, court, node
    await stop()


@pytest.mark.parametrize("escaped", [False, True])
async def test_judgments_over_the_gateway_escaped_or_not(court_over_gateway, samples, docket, escaped):
    mock, court, node = court_over_gateway
    mock.escape_text = escaped
    sample = samples["court"]["debt_in_kind"]
    reply_ = await query(node, case_number=sample["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_FOUND
    assert [j.document_type for j in reply_.judgments] == ["裁定书", "裁定书"]
    codes = [s["head"]["requestType"] for s in mock.seen]
    assert codes[0] == "GF01" and set(codes[1:]) == {"GF99"} and len(codes) >= 2
    number = mock.seen[0]["head"]["cxqqdh"]
    assert re.fullmatch(r"\d{8}340100\d{6}", number)
    [applied] = court.applications
    assert applied["CXQQDH"] == number and applied["AJBH"] == sample["case_number"]
    assert (applied["CXBM"], applied["CXBMBH"], applied["CXR"]) == ("某市不动产登记局", "340100", ctx().operator_id)
    assert all(s["payload"] == {"cxqqdh": number} for s in list(mock.seen)[1:])


async def test_pending_over_the_gateway(court_over_gateway, samples):
    mock, court, node = court_over_gateway
    court.ready_after = 30
    reply_ = await query(node, timeout=1.5, case_number=samples["court"]["sale_judgment"]["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_PENDING and reply_.pending and not reply_.judgments


async def test_gateway_refusing_the_court_is_source_unavailable(court_over_gateway, samples):
    mock, court, node = court_over_gateway
    mock.next_statuses.append("0302")
    reply_ = await query(node, case_number=samples["court"]["sale_judgment"]["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and "0302" in reply_.provenance.unavailable_reason
    assert court.stats["submitted"] == 0


@pytest.mark.parametrize("quirks", [False, True], ids=["plain", "escaped XML, mixed-case envelope"])
async def test_the_two_steps_over_the_provincial_platform(provincial, start_mock, samples, quirks):  # noqa: F811
    """cxywcs:[{xmlContent}] then cxywcs:[{cxqqdh}]; the head's cxqqdh is the one the XML cites."""
    mock, relay = provincial
    mock.escape_text = mock.mixed_case = quirks
    court = await start_mock(CourtDepartment, ready_after=0)
    mock.handlers.update(court.answers())
    sample = samples["court"]["seizure_ruling"]
    number = await relay.next_request_number()
    sent = apply_request(sample["case_number"], number, "某市不动产登记中心", "320100", "clerk-7", "320100")
    await relay.send(Service.COURT_APPLY, sent, replace(call(), request_number=number))
    reply_ = await relay.send(Service.COURT_FEEDBACK, {"cxqqdh": number}, call())
    [ruling] = parse(reply_.payload)
    assert ruling.case_number == sample["case_number"] and ruling.document_type == "裁定书"
    apply_seen, feedback_seen = mock.seen
    assert apply_seen["head"]["cxqqdh"] == number and apply_seen["payload"] == [sent]
    assert feedback_seen["payload"] == [{"cxqqdh": number}]
    assert court.applications[0]["CXQQDH"] == number


# ------------------------------------------------------------------ court down, refused, broken


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_court_down_is_source_unavailable(node_for, samples):
    node = await node_for({"court": f"http://127.0.0.1:{_closed_port()}"})
    reply_ = await query(node, timeout=3, case_number=samples["court"]["sale_judgment"]["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply_.pending
    assert "cannot connect" in reply_.provenance.unavailable_reason


async def test_wrong_secret_is_refused_not_a_verdict(world, node_for, samples):
    court = CourtDepartment(world, {"querynode-test": "another-secret"})
    await court.start()
    try:
        node = await node_for({"court": court.url})
        reply_ = await query(node, case_number=samples["court"]["sale_judgment"]["case_number"])
        assert reply_.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "signature" in reply_.provenance.unavailable_reason
        assert court.stats["submitted"] == 0
    finally:
        await court.stop()


def _ok(data, request_type: str = "GF99") -> web.Response:
    return web.json_response({"head": {"status": "0200", "msg": "正常", "requestType": request_type}, "data": data})


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def _doc(old: str, new: str) -> str:
    changed = DOCUMENT.replace(old, new)
    assert changed != DOCUMENT, old
    return resource(t_aj(changed))


async def _truncated(request: web.Request, text: str) -> web.StreamResponse:
    body = json.dumps({"head": {"status": "0200"}, "data": text}, ensure_ascii=False).encode()
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = len(body) + 4096
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    request.transport.close()
    return resp


Result = Callable[[web.Request], web.StreamResponse]
BOMB = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<RESOURCE><BRIEF><NUM>&b;</NUM></BRIEF></RESOURCE>")

# (label, GF99 answer(request) -> response, words in the reason)
BROKEN: list[tuple[str, Result, str]] = [
    ("feedback is an object", lambda r: _ok({"RESOURCE": {}}), "not XML text"),
    ("invalid XML", lambda r: _ok(GOLDEN[:-20] + "<<"), "well-formed"),
    ("HTML error page", lambda r: _ok("<html><body><h1>502 Bad Gateway</h1><br></body></html>"), "well-formed"),
    ("another root element", lambda r: _ok("<Error><NUM>0</NUM></Error>"), "no RESOURCE"),
    ("no BRIEF", lambda r: _ok(GOLDEN.replace("<BRIEF><NUM>1</NUM></BRIEF>", "")), "lacks BRIEF"),
    ("fewer cases than announced", lambda r: _ok(resource(t_aj(), 3)), "different number of cases"),
    ("NUM not a number", lambda r: _ok(resource(t_aj()).replace("<NUM>1</NUM>", "<NUM>一</NUM>")), "different number"),
    ("missing case number", lambda r: _ok(GOLDEN.replace("<c_ah>（2020）苏0102民初123号</c_ah>", "")), "lacks c_ah"),
    ("invalid case number", lambda r: _ok(resource(t_aj(number="（2020）苏0102民初号"))), "invalid case number"),
    ("no parties", lambda r: _ok(re.sub(r"<t_aj_dsr>.*?</t_aj_dsr>", "", GOLDEN)), "without parties"),
    ("party without name", lambda r: _ok(GOLDEN.replace("<c_mc>张三</c_mc>", "<c_mc> </c_mc>")), "lacks c_mc"),
    ("no documents", lambda r: _ok(re.sub(r"<t_ws>.*?</t_ws>", "", GOLDEN)), "without documents"),
    ("bad base64", lambda r: _ok(resource(t_aj(encoded="@@not base64!!"))), "not base64"),
    ("document in GBK", lambda r: _ok(resource(t_aj(encoded=_b64(DOCUMENT.encode("gbk"))))), "not base64 of UTF-8"),
    ("document is an error page", lambda r: _ok(resource(t_aj("<html><body><h1>404 文书不存在</h1></body></html>"))),
     "names no court"),
    ("document without title", lambda r: _ok(_doc("<div>民 事 判 决 书</div>", "")), "no title"),
    ("document without date", lambda r: _ok(_doc("<p>二〇二〇年十二月三十一日</p>", "")), "no date"),
    ("impossible date", lambda r: _ok(_doc("十二月三十一日", "二月三十日")), "not a date"),
    ("party not in the document", lambda r: _ok(_doc("原告（反诉被告）：张三", "原告：张四")), "not introduced"),
    ("document without operative part", lambda r: _ok(_doc("判决如下", "判决如左")), "no operative part"),
    ("document of another case", lambda r: _ok(_doc("（2020）苏0102民初123号", "（2020）苏0102民初124号")),
     "another case number"),
    ("broken escapes", lambda r: _ok('"<?xml \\x"'), "broken escapes"),
    ("entity expansion", lambda r: _ok(BOMB), "DTD"),
    ("service error 9900", lambda r: web.json_response({"head": {"status": "9900", "msg": "其他异常"}}), "9900"),
    ("permission 0302", lambda r: web.json_response({"head": {"status": "0302", "msg": "没有访问权限"}}), "0302"),
    ("no head", lambda r: web.json_response({"data": GOLDEN}), "no head status"),
    ("truncated body", lambda r: _truncated(r, GOLDEN), "truncated"),
    ("10 MB body", lambda r: _ok(" " * (10 * 1024 * 1024)), "exceeds"),
    ("HTTP 500", lambda r: web.Response(status=500, text="Internal Server Error"), "HTTP 500"),
]


def _fake_court(result: Result, seen: list[str]):
    """A court whose GF01 step works and whose GF99 step answers with `result`."""
    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-Request-Id", ""))
        if json.loads(await request.read())["head"]["requestType"] == "GF01":
            return _ok("", "GF01")
        answer = result(request)
        return await answer if asyncio.iscoroutine(answer) else answer
    return handle


@pytest.mark.parametrize("label,result,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(
        node_for, fake_upstream, label, result, reason):
    node = await node_for({"court": await fake_upstream(_fake_court(result, []))})
    reply_ = await query(node, timeout=3, case_number="（2020）苏0102民初123号")
    assert reply_.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply_.judgments and not reply_.pending
    assert reason in reply_.provenance.unavailable_reason
    for personal in ("张三", "320106199001011234"):
        assert personal not in reply_.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(fresh=True), "case_number": "（2020）苏0102民初123号"})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"


async def test_hand_built_good_reply_is_parsed_and_request_id_forwarded(node_for, fake_upstream, samples, docket):
    """The same fake court, answering correctly: proves the broken cases fail for their fault only."""
    case = docket[samples["court"]["debt_in_kind"]["case_number"]]
    seen: list[str] = []
    url = await fake_upstream(_fake_court(lambda r: _ok(resource(case_xml(case))), seen))
    node = await node_for({"court": url})
    reply_ = await query(node, context=ctx(request_id="req-court-0001"), case_number=case.case_number)
    assert reply_.verdict == pb.LOOKUP_VERDICT_FOUND and len(reply_.judgments) == 2
    assert len(seen) == 2 and set(seen) == {"req-court-0001"}  # on the apply and on the feedback


@pytest.mark.parametrize("readable", [True, False], ids=["decodable document", "undecodable document"])
async def test_a_document_that_cannot_be_decoded_leaves_the_case_to_a_person(
        node_for, fake_upstream, person_departments, docket, samples, readable):
    """Through CheckCase: the same seizure ruling, once readable and once in GBK; the second is
    须人工核验 (check UNAVAILABLE, case INCOMPLETE), never CLEAR."""
    case = docket[samples["court"]["seizure_ruling"]["case_number"]]
    good = case_xml(case)
    text = good if readable else re.sub(r"<c_nr>.*?</c_nr>", "<c_nr>" + _b64("<p>法院</p>".encode("gbk")) + "</c_nr>",
                                        good, flags=re.S)
    url = await fake_upstream(_fake_court(lambda r: _ok(resource(text)), []))
    node = await node_for({**person_departments, "court": url})
    debtor = next(p for p in case.parties if p.role == "被执行人")
    reply_ = await node.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="seizure", judgment_case_number=case.case_number,
        parties=[pb.CaseParty(role="holder", name=debtor.name, id_number=debtor.identifier)]), timeout=10)
    judgment = next(c for c in reply_.checks if c.kind == "judgment")
    if readable:
        assert judgment.status == pb.CHECK_STATUS_OK and reply_.status == pb.CASE_STATUS_CLEAR
    else:
        assert judgment.status == pb.CHECK_STATUS_UNAVAILABLE and reply_.status == pb.CASE_STATUS_INCOMPLETE
        assert "not base64 of UTF-8" in judgment.provenance.unavailable_reason
