"""QueryJudgments through the node (gRPC and JSON) against the asynchronous mock court,
and against broken courts that break the protocol in every way we know of."""
from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import Callable

import aiohttp
import grpc
import pytest
from aiohttp import web

from mocks.court import CourtDepartment, case_xml, reply
from mocks.court_cases import generate
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx
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


async def test_party_with_several_cases(node, samples):
    sample = samples["court"]["party_with_several_cases"]
    reply_ = await query(node, party_name=sample["party_name"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_FOUND
    assert sorted({j.case_number for j in reply_.judgments}) == sample["case_numbers"]
    assert len(sample["case_numbers"]) >= 4
    for j in reply_.judgments:
        assert sample["party_name"] in [p.name for p in j.parties]
    types = {re.search(r"\d(执保|执|财保|民初)\d", j.case_number).group(1) for j in reply_.judgments}
    assert {"民初", "执", "财保"} <= types


async def test_unknown_case_number_is_not_found(node, court, samples):
    reply_ = await query(node, case_number=samples["court"]["no_record"]["case_number"])
    assert reply_.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply_.judgments and not reply_.pending
    assert court.stats["submitted"] == 1


async def test_unknown_party_is_not_found(node):
    reply_ = await query(node, party_name="北京从未涉诉有限公司")
    assert reply_.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply_.judgments


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


async def test_json_found_not_found_and_party(node, samples):
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
    assert status == 200 and len({j["case_number"] for j in body["result"]["judgments"]}) == len(party["case_numbers"])


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
        assert court.stats["refused"] == 1 and court.stats["submitted"] == 0
    finally:
        await court.stop()


def _xml(text: str | bytes, content_type: str = "application/xml", charset: str | None = "utf-8") -> web.Response:
    body = text.encode("utf-8") if isinstance(text, str) else text
    return web.Response(body=body, content_type=content_type, charset=charset)


def _ready(cases_xml: str, total: int = 1, number: str = "") -> str:
    head = f"<CXQQDH>{number}</CXQQDH>" if number else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Head><Code>0000</Code><Msg>查询成功</Msg>{head}</Head>'
            f'<Body><Cases total="{total}">{cases_xml}</Cases></Body></Response>')


def _swap(xml: str, pattern: str, new: str) -> str:
    changed = re.sub(pattern, new, xml, count=1, flags=re.S)
    assert changed != xml, pattern
    return changed


def _b64(html: bytes) -> str:
    return base64.b64encode(html).decode()


async def _truncated(request: web.Request, xml: str) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/xml; charset=utf-8"})
    resp.content_length = len(xml.encode()) + 4096
    await resp.prepare(request)
    await resp.write(xml.encode()[: len(xml) // 2])
    request.transport.close()
    return resp


Result = Callable[[web.Request, str], web.StreamResponse]
BOMB = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Response><Head><Code>0000</Code><Msg>&c;</Msg></Head></Response>')

# (label, result(request, good case XML) -> response, words in the reason)
BROKEN: list[tuple[str, Result, str]] = [
    ("invalid XML", lambda r, c: _xml(_ready(c)[:-20] + "<<"), "well-formed"),
    ("HTML error page with 200", lambda r, c: _xml("<html><body><h1>系统维护中</h1></body></html>", "text/html"), "not XML"),
    ("HTML page labelled XML", lambda r, c: _xml("<html><body><h1>502 Bad Gateway</h1><br></body></html>"), "well-formed"),
    ("another root element", lambda r, c: _xml("<Error><Code>0000</Code></Error>"), "no Response"),
    ("no head", lambda r, c: _xml("<Response><Body/></Response>"), "no Head"),
    ("no Cases", lambda r, c: _xml(_swap(_ready(c), r"<Body>.*</Body>", "")), "no Cases"),
    ("missing case number", lambda r, c: _xml(_ready(_swap(c, r"<AH>.*?</AH>", ""))), "lacks AH"),
    ("invalid case number", lambda r, c: _xml(_ready(_swap(c, r"<AH>.*?</AH>", "<AH>（2023）京0105民初号</AH>"))),
     "invalid case number"),
    ("missing court", lambda r, c: _xml(_ready(_swap(c, r"<FYMC>.*?</FYMC>", "<FYMC> </FYMC>"))), "lacks FYMC"),
    ("no parties", lambda r, c: _xml(_ready(_swap(c, r"<DSRS>.*?</DSRS>", "<DSRS/>"))), "without parties"),
    ("no documents", lambda r, c: _xml(_ready(_swap(c, r"<WSS>.*?</WSS>", "<WSS/>"))), "without documents"),
    ("unknown role code", lambda r, c: _xml(_ready(_swap(c, r"<SSDW>\d+</SSDW>", "<SSDW>42</SSDW>"))), "role code"),
    ("unknown document type", lambda r, c: _xml(_ready(_swap(c, r"<WSLX>\d</WSLX>", "<WSLX>9</WSLX>"))),
     "document type"),
    ("impossible date", lambda r, c: _xml(_ready(_swap(c, r"<CPRQ>.*?</CPRQ>", "<CPRQ>2023-02-30</CPRQ>"))),
     "YYYY-MM-DD"),
    ("bad base64", lambda r, c: _xml(_ready(_swap(c, r"<WSNR>.*?</WSNR>", "<WSNR>@@not base64!!</WSNR>"))),
     "not base64"),
    ("document in GBK", lambda r, c: _xml(_ready(_swap(c, r"<WSNR>.*?</WSNR>", "<WSNR>" + _b64(
        "<p>判决如下：驳回原告的诉讼请求。</p>".encode("gbk")) + "</WSNR>"))), "not base64 of UTF-8"),
    ("document without operative part", lambda r, c: _xml(_ready(_swap(c, r"<WSNR>.*?</WSNR>", "<WSNR>" + _b64(
        "<html><body><h1>404 文书不存在</h1></body></html>".encode()) + "</WSNR>"))), "no operative part"),
    ("unknown reply code", lambda r, c: _xml(_swap(_ready(c), "<Code>0000</Code>", "<Code>7777</Code>")),
     "unknown reply code"),
    ("fewer cases than announced", lambda r, c: _xml(_ready(c, total=3)), "different number of cases"),
    ("reply for another request", lambda r, c: _xml(_ready(c, number="20260101110000999999")), "another query"),
    ("request number unknown", lambda r, c: reply("1004", "查询请求单号不存在"), "does not know"),
    ("truncated body", lambda r, c: _truncated(r, _ready(c)), "truncated"),
    ("10 MB body", lambda r, c: _xml(b" " * (10 * 1024 * 1024)), "exceeds"),
    ("GBK bytes declared UTF-8", lambda r, c: _xml(_ready(c).encode("gbk")), "well-formed"),
    ("charset GBK", lambda r, c: _xml(_ready(c).replace("UTF-8", "GBK").encode("gbk"), charset="gbk"), "not UTF-8"),
    ("entity expansion", lambda r, c: _xml(BOMB), "DTD"),
    ("HTTP 500", lambda r, c: web.Response(status=500, text="Internal Server Error"), "HTTP 500"),
]


def _fake_court(result: Result, case_xml_text: str, seen: list[str]):
    """A court whose submit step works and whose result step answers with `result`."""
    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-Request-Id", ""))
        form = await request.post()
        if request.path.endswith("/submit"):
            return reply("0000", "受理成功", f"<CXQQDH>{form['cxqqdh']}</CXQQDH>")
        answer = result(request, case_xml_text)
        return await answer if asyncio.iscoroutine(answer) else answer
    return handle


@pytest.mark.parametrize("label,result,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(
        node_for, fake_upstream, samples, docket, label, result, reason):
    case = docket[samples["court"]["sale_judgment"]["case_number"]]
    url = await fake_upstream(_fake_court(result, case_xml(case), []))
    node = await node_for({"court": url})
    reply_ = await query(node, timeout=3, case_number=case.case_number)
    assert reply_.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply_.judgments and not reply_.pending
    assert reason in reply_.provenance.unavailable_reason
    for party in case.parties:
        assert party.name not in reply_.provenance.unavailable_reason
        assert party.identifier not in reply_.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(fresh=True), "case_number": case.case_number})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"


async def test_hand_built_good_reply_is_parsed_and_request_id_forwarded(node_for, fake_upstream, samples, docket):
    """The same fake court, answering correctly: proves the broken cases fail for their fault only."""
    case = docket[samples["court"]["debt_in_kind"]["case_number"]]
    seen: list[str] = []
    url = await fake_upstream(_fake_court(lambda r, c: _xml(_ready(c)), case_xml(case), seen))
    node = await node_for({"court": url})
    reply_ = await query(node, context=ctx(request_id="req-court-0001"), case_number=case.case_number)
    assert reply_.verdict == pb.LOOKUP_VERDICT_FOUND and len(reply_.judgments) == 2
    assert seen and set(seen) == {"req-court-0001"}  # on the submit and on every poll
