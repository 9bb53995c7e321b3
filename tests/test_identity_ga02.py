"""公安部 身份核查 GA02 (INTERFACES.md §5): golden request and replies written from the interface text
with made-up values, broken replies as SOURCE_UNAVAILABLE, and one call for the persons of a case."""
from __future__ import annotations

import asyncio
import json
import re

import pytest
from aiohttp import web

from connectors.base import BadUpstream, CallInfo, Unavailable
from connectors.base.batching import CaseBatcher
from connectors.base.ministry import lower_keys
from connectors.identity.client import MessageSequence, request
from connectors.identity.reply import parse
from mocks.identity import IdentityDepartment
from querynode.domain.model import IdentityItem, IdentityQuery, IdentityResult, IdentityVerdict
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node
from connectors.relay import Service
from tests.relay_support import call as relay_call
from tests.relay_support import gateway, over_gateway, provincial, relay_keys  # noqa: F401  (fixtures)

WANG, ZHAO = IdentityQuery("110101199001011237", "王五"), IdentityQuery("11010119920202234X", "赵六")
OPTIONS = {"operator_id_card": "110101198001010011", "dept_code": "12340000MB0000000X", "dept_addr": "某市某路1号",
           "app_name": "不动产登记系统", "business_type_code": "SC000023", "business_type_name": "首次登记"}
# §5.1, the Anhui/Jiangsu string style, made-up values
DOCUMENTED_REQUEST = {
    "bus_sre_idcard": "110101198001010011", "bus_sre_deptcode": "12340000MB0000000X",
    "bus_sre_deptaddr": "某市某路1号", "bus_sre_appname": "不动产登记系统",
    "bus_sre_businesstypecode": "SC000023", "bus_sre_businesstypename": "首次登记",
    "MessageSequence": "202401051030150001",
    "RequestParam": {"Conditions": [
        {"CheckCondition": {"xm": "王五"}, "QueryCondition": "gmsfhm='110101199001011237'"},
        {"CheckCondition": {"xm": "赵六"}, "QueryCondition": "gmsfhm='11010119920202234X'"}]}}


def item(code: str, name: str | None) -> dict:
    out = {"CheckCode": code, "CheckCodeDesc": "核查一致", "DataInfo": []}
    return out | ({"CheckSourceInfos": {"xm": name}} if name is not None else {})


def reply(*items: dict) -> dict:  # §5.2
    return {"ResourceInfos": [{"ResourceName": "", "DataItems": [], "ReturnInfos": list(items)}]}


def read(data: dict, *queries: IdentityQuery) -> list:
    return parse(lower_keys(data), [q.name for q in queries])


MATCH = IdentityResult(IdentityVerdict.MATCH)
NOT_FOUND = IdentityResult(IdentityVerdict.NOT_FOUND)
NAME_DIFFERS = IdentityResult(IdentityVerdict.MISMATCH, (IdentityItem.NAME,))

# ------------------------------------------------------------------ golden pairs


def test_the_request_is_the_documented_shape():
    from datetime import datetime

    from connectors.base.wire import SHANGHAI
    sequence = MessageSequence().next(datetime(2024, 1, 5, 10, 30, 15, tzinfo=SHANGHAI))
    assert request([WANG, ZHAO], sequence, OPTIONS) == DOCUMENTED_REQUEST


def test_message_sequence_is_time_and_an_index_counting_from_one():
    seq = MessageSequence()
    first, second = seq.next(), seq.next()
    assert re.fullmatch(r"\d{18}", first) and (first[-4:], second[-4:]) == ("0001", "0002")


def test_documented_reply_is_read_per_person_by_name_not_position():
    got = read(reply(item("999", "赵六"), item("000", "王五")), WANG, ZHAO)
    assert got == [MATCH, NOT_FOUND]


@pytest.mark.parametrize("code, expected", [("000", MATCH), ("999", NOT_FOUND), ("001", NAME_DIFFERS),
                                            ("998", NAME_DIFFERS), ("000 ", MATCH)])
def test_check_codes(code, expected):
    assert read(reply(item(code, "王五")), WANG) == [expected]


def test_mixed_key_case_and_trailing_spaces_are_read():
    data = {"RESOURCEINFOS": [{"returnInfos": [{"checkCode": "001 ", "CHECKSOURCEINFOS": {"XM": "王五 "}}]}]}
    assert read(data, WANG) == [NAME_DIFFERS]


def test_an_item_without_a_name_is_read_by_position_only_for_one_person():
    assert read(reply(item("000", None)), WANG) == [MATCH]
    got = read(reply(item("000", None), item("000", None)), WANG, ZHAO)
    assert all(isinstance(o, BadUpstream) for o in got)


@pytest.mark.parametrize("code", ["1000", "00", "ABC", "", None, 0, "０００"])
def test_an_unknown_code_leaves_that_person_to_a_person_and_answers_the_other(code):
    wang, zhao = read(reply(item("000", "王五"), {**item("000", "赵六"), "CheckCode": code}), WANG, ZHAO)
    assert wang == MATCH
    assert isinstance(zhao, BadUpstream) and "unknown check code" in zhao.message


def test_a_person_missing_or_answered_twice_is_not_judged():
    missing = read(reply(item("000", "王五")), WANG, ZHAO)
    assert missing[0] == MATCH and "no answer" in missing[1].message
    twice = read(reply(item("000", "王五"), item("001", "王五"), item("000", "赵六")), WANG, ZHAO)
    assert "twice" in twice[0].message and twice[1] == MATCH


@pytest.mark.parametrize("data, reason", [
    ([], "no ResourceInfos"), ({}, "no ResourceInfos"), ({"ResourceInfos": []}, "no ResourceInfos"),
    ({"ResourceInfos": [{"ReturnInfos": "000"}]}, "no ReturnInfos"),
    ({"ResourceInfos": [{"ReturnInfos": ["000"]}]}, "no ReturnInfos"),
    (reply(item("000", "王五"), item("000", "李四")), "not asked"),
])
def test_a_reply_outside_the_protocol_judges_nobody(data, reason):
    with pytest.raises(BadUpstream, match=reason):
        read(data, WANG)


# ------------------------------------------------------------------ over a node



async def verify_wang(tmp_path, url: str, dept_secret, **options) -> pb.VerifyIdentityResponse:
    """VerifyIdentity of 王五 on a node whose identity department is `url` with `options`."""
    settings = make_settings(tmp_path, {"identity": url}, dept_secret)
    settings.departments["identity"].options.update(options)
    running, stop = await start_node(settings)
    try:
        return await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=WANG.id_number, name=WANG.name))
    finally:
        await stop()


def envelope(data) -> bytes:
    return json.dumps({"head": {"status": "0200", "msg": "正常", "requestType": "GA02"}, "data": data},
                      ensure_ascii=False).encode()


async def test_the_node_sends_the_documented_request(tmp_path, fake_upstream, dept_secret):
    seen = []

    async def handle(request):
        seen.append(json.loads(await request.read()))
        return web.Response(body=envelope(reply(item("000", "王五"))), content_type="application/json")
    got = await verify_wang(tmp_path, await fake_upstream(handle), dept_secret, **OPTIONS)
    assert got.verdict == pb.IDENTITY_VERDICT_MATCH
    [body] = seen
    assert body["head"]["requestType"] == "GA02" and body["head"]["businessNumber"] == ctx().case_number
    data = body["data"]
    assert re.fullmatch(r"\d{18}", data.pop("MessageSequence"))
    expected = {**DOCUMENTED_REQUEST, "RequestParam": {"Conditions": DOCUMENTED_REQUEST["RequestParam"]["Conditions"][:1]}}
    del expected["MessageSequence"]
    assert data == expected


BROKEN = [
    ("not JSON", b"<html>", "not UTF-8 JSON"),
    ("unknown check code", envelope(reply(item("007A", "王五"))), "unknown check code"),
    ("another person", envelope(reply(item("000", "李四"))), "not asked"),
    ("no ReturnInfos", envelope({"ResourceInfos": [{}]}), "no ReturnInfos"),
    ("old invented shape", envelope({"result": "000"}), "no ResourceInfos"),
    ("no data", json.dumps({"head": {"status": "0200"}}).encode(), "no data"),
    ("service error 9900", json.dumps({"head": {"status": "9900", "msg": "其他异常"}}).encode(), "9900"),
    ("permission 0302", json.dumps({"head": {"status": "0302", "msg": "没有访问权限"}}).encode(), "0302"),
]


@pytest.mark.parametrize("label, body, reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable(tmp_path, fake_upstream, dept_secret, label, body, reason):
    async def handle(request):
        return web.Response(body=body, content_type="application/json")
    got = await verify_wang(tmp_path, await fake_upstream(handle), dept_secret)
    assert got.verdict == pb.IDENTITY_VERDICT_SOURCE_UNAVAILABLE
    assert reason in got.provenance.unavailable_reason and WANG.id_number not in got.provenance.unavailable_reason


# ------------------------------------------------------------------ one call per case


def party(sample: dict, role: str) -> pb.CaseParty:
    return pb.CaseParty(role=role, name=sample["name"], id_number=sample["id_number"])


def four_persons(samples) -> list[pb.CaseParty]:
    s = samples["identity"]
    return [party(s["name_mismatch"][0], "seller"), party(s["match"][0], "buyer"),
            party(s["not_found"][0], "agent"), party(s["match"][1], "legal_representative")]


async def test_a_case_with_four_persons_sends_one_identity_request(node_for, identity_mock, samples):
    running = await node_for({"identity": identity_mock.url})
    got = await running.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(), registration_type="transfer", parties=four_persons(samples)))
    assert identity_mock.stats["requests"] == 1
    [sent] = identity_mock.requests
    assert len(sent["RequestParam"]["Conditions"]) == 4
    statuses = {c.check_id: c.summary for c in got.checks if c.kind == "identity"}
    assert "不一致" in statuses["identity:seller:0"] and "一致" in statuses["identity:buyer:1"]
    assert "无此身份号码" in statuses["identity:agent:2"] and "一致" in statuses["identity:legal_representative:3"]
    assert {f.code for f in got.findings} >= {"NAME_MISMATCH", "ID_NOT_FOUND"}
    records = [r for r in await running.node.audit_store.records() if r.operation == "VerifyIdentity"]
    assert len([r for r in records if r.outcome == "ANSWERED"]) == 4  # one record per person all the same


async def test_two_cases_are_never_mixed_into_one_request(node_for, identity_mock, samples):
    running = await node_for({"identity": identity_mock.url})
    s = samples["identity"]["match"]
    one = [party(s[0], "seller"), party(s[1], "buyer")]
    two = [party(s[2], "seller"), party(s[3], "buyer")]
    await asyncio.gather(*(running.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(case_number=number), registration_type="transfer", parties=parties))
        for number, parties in (("2026-110105-000001", one), ("2026-110105-000002", two))))
    assert identity_mock.stats["requests"] == 2
    asked = sorted(sorted(c["QueryCondition"] for c in r["RequestParam"]["Conditions"]) for r in identity_mock.requests)
    assert asked == sorted([sorted(f"gmsfhm='{p.id_number}'" for p in one),
                            sorted(f"gmsfhm='{p.id_number}'" for p in two)])


async def test_a_case_is_checked_over_the_gateway_in_one_request(gateway, relay_keys, world, tmp_path,  # noqa: F811
                                                                 dept_secret, samples):
    mock, _ = gateway
    mock.handlers.update({"GA02": IdentityDepartment(world, {}).answers()["police_identity_check"]})
    settings = make_settings(tmp_path, {"identity": mock.url}, dept_secret)
    over_gateway(settings, "identity", relay_keys, tmp_path)
    running, stop = await start_node(settings)
    try:
        got = await running.stub.CheckCase(pb.CheckCaseRequest(
            context=ctx(), registration_type="transfer", parties=four_persons(samples)))
    finally:
        await stop()
    [seen] = [s for s in mock.seen if s["head"]["requestType"] == "GA02"]
    assert len(seen["payload"]["RequestParam"]["Conditions"]) == 4
    assert {f.code for f in got.findings} >= {"NAME_MISMATCH", "ID_NOT_FOUND"}


@pytest.mark.parametrize("mixed_case", [False, True])
async def test_ga02_over_the_provincial_platform(provincial, world, samples, mixed_case):  # noqa: F811
    mock, relay = provincial
    mock.mixed_case = mixed_case
    mock.handlers["police_identity_check"] = IdentityDepartment(world, {}).answers()["police_identity_check"]
    s = samples["identity"]
    queries = [IdentityQuery(p["id_number"], p["name"]) for p in (s["match"][0], s["not_found"][0], s["name_mismatch"][0])]
    got = await relay.send(Service.IDENTITY_CHECK, request(queries, MessageSequence().next(), OPTIONS), relay_call())
    assert parse(lower_keys(got.payload), [q.name for q in queries]) == [MATCH, NOT_FOUND, NAME_DIFFERS]
    [seen] = mock.seen
    assert seen["data"]["cxywlb"] == "police_identity_check" and len(seen["payload"]) == 1
    assert len(seen["payload"][0]["RequestParam"]["Conditions"]) == 3


# ------------------------------------------------------------------ the batcher's rules


def call(case: str = "2026-110105-000123", operator: str = "clerk-007") -> CallInfo:
    return CallInfo(request_id="r", case_number=case, operator_id=operator, timeout=5.0)


class Department:
    """A stand-in `send`: records each call's queries, answers each query with itself."""

    def __init__(self, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.calls: list[list] = []
        self.fail, self.delay = fail, delay

    async def __call__(self, queries, _call):
        self.calls.append(list(queries))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise self.fail
        return [f"answer {q}" for q in queries]


async def test_one_tick_one_call_per_case_and_operator_bounded_in_size():
    dept = Department()
    batcher = CaseBatcher(dept, max_size=2)
    got = await asyncio.gather(*(batcher.submit(q, c) for q, c in [
        ("a", call()), ("b", call()), ("c", call()), ("d", call("2026-110105-000124")), ("e", call(operator="x"))]))
    assert got == ["answer a", "answer b", "answer c", "answer d", "answer e"]
    assert sorted(dept.calls) == [["a", "b"], ["c"], ["d"], ["e"]]


async def test_lookups_that_do_not_fit_beside_each_other_go_out_apart():
    dept = Department()
    batcher = CaseBatcher(dept, max_size=10, fits=lambda queries, query: query not in queries)
    await asyncio.gather(*(batcher.submit(q, call()) for q in ["a", "a", "b"]))
    assert sorted(dept.calls) == [["a"], ["a", "b"]]


async def test_a_failed_call_fails_each_member_with_the_same_typed_error():
    batcher = CaseBatcher(Department(fail=Unavailable("identity: HTTP 503")), max_size=5)
    got = await asyncio.gather(*(batcher.submit(q, call()) for q in "abc"), return_exceptions=True)
    assert [type(e) for e in got] == [Unavailable] * 3 and {e.message for e in got} == {"identity: HTTP 503"}
    assert got[0] is not got[1]


async def test_an_error_for_one_member_is_that_members_alone():
    async def send(queries, _call):
        return [BadUpstream("identity: unknown check code") if q == "b" else q for q in queries]
    got = await asyncio.gather(*(CaseBatcher(send, max_size=5).submit(q, call()) for q in "ab"),
                               return_exceptions=True)
    assert isinstance(got[1], BadUpstream)  # (each submit has its own batcher here: alone either way)
    batcher = CaseBatcher(send, max_size=5)
    got = await asyncio.gather(*(batcher.submit(q, call()) for q in "abc"), return_exceptions=True)
    assert got[0] == "a" and isinstance(got[1], BadUpstream) and got[2] == "c"


async def test_a_cancelled_member_does_not_cancel_the_others():
    dept = Department(delay=0.05)
    batcher = CaseBatcher(dept, max_size=5)
    tasks = [asyncio.ensure_future(batcher.submit(q, call())) for q in "abc"]
    await asyncio.sleep(0.01)  # the call is under way
    tasks[1].cancel()
    got = await asyncio.gather(*tasks, return_exceptions=True)
    assert got[0] == "answer a" and isinstance(got[1], asyncio.CancelledError) and got[2] == "answer c"
    assert dept.calls == [["a", "b", "c"]]


async def test_the_call_is_cancelled_when_every_member_has_left():
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def send(queries, _call):
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
    batcher = CaseBatcher(send, max_size=5)
    tasks = [asyncio.ensure_future(batcher.submit(q, call())) for q in "ab"]
    await started.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.wait_for(cancelled.wait(), 1)
