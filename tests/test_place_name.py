"""QueryPlaceNames end to end: node (gRPC and JSON) -> place-name connector (MZ03) -> mock 民政部
地名信息查询, over real sockets; golden request and replies written from INTERFACES.md §10 with
made-up values; then a register that breaks the documented shape in every way we know of."""
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
from connectors.place_name.reply import parse
from mocks.gazetteer import gazetteer
from mocks.place_name import PlaceNameDepartment
from querynode.domain.model import PlaceNameQuery
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, json_ctx


@pytest.fixture
async def register(start_mock) -> PlaceNameDepartment:
    return await start_mock(PlaceNameDepartment)


@pytest.fixture
async def node(node_for, register):
    return await node_for({"place_name": register.url})


async def query(node, **key) -> pb.QueryPlaceNamesResponse:
    return await node.stub.QueryPlaceNames(pb.QueryPlaceNamesRequest(context=ctx(), **key))


async def post_json(node, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/place-names/query", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


def place_by_code(world, code: str):
    return next(p for p in gazetteer(world).places if p.code == code)


# ------------------------------------------------------------------ answers


async def test_exact_name_gives_the_full_record(node, samples, world):
    sample = samples["place_name"]["exact"][0]
    reply = await query(node, name=sample["name"])
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    [got] = reply.places
    want = place_by_code(world, sample["code"])
    assert (got.name, got.code, got.division_code) == (sample["name"], sample["code"], sample["division_code"])
    assert (got.roman, got.place_type) == (want.roman, "街路巷")
    # MZ03 carries no type code, division name or coordinates
    assert (got.place_type_code, got.division_name, got.longitude, got.latitude) == ("", "", 0.0, 0.0)
    assert want.meaning in got.meaning and want.origin in got.meaning
    assert got.code[:12] == want.township_code and got.code[12:16] == "5510"
    assert reply.provenance.department == pb.DEPARTMENT_PLACE_NAME and reply.provenance.audit_id


async def test_exact_name_shared_by_several_counties(node, samples):
    sample = samples["place_name"]["exact_several"][0]
    reply = await query(node, name=sample["name"])
    assert len(reply.places) == sample["count"] >= 3
    assert {p.name for p in reply.places} == {sample["name"]}
    assert len({p.division_code for p in reply.places}) == sample["count"]


async def test_prefix_search_over_json_honours_limit(node, samples):
    sample = samples["place_name"]["prefix"][0]
    assert sample["count"] > 5
    status, body = await post_json(node, {"context": json_ctx(), "name": sample["name"], "prefix": True, "limit": 5})
    assert status == 200 and body["verdict"] == "FOUND"
    places = body["result"]["places"]
    assert len(places) == 5
    assert all(p["name"].startswith(sample["name"]) or any(sample["name"] in h for h in p["history"])
               for p in places)


async def test_prefix_search_over_grpc_returns_every_match_up_to_100(node, samples):
    sample = samples["place_name"]["prefix"][0]
    reply = await query(node, name=sample["name"], prefix=True, limit=100)
    assert len(reply.places) == min(sample["count"], 100)
    assert len({p.code for p in reply.places}) == len(reply.places)


@pytest.mark.parametrize("index", [0, 1], ids=["county", "township"])
async def test_division_code_search(node, samples, index):
    sample = samples["place_name"]["division"][index]
    code = sample["division_code"]
    reply = await query(node, division_code=code, limit=100)
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert len(reply.places) == sample["count"]
    assert all(p.division_code == code[:6] for p in reply.places)
    if len(code) == 12:
        assert all(p.code.startswith(code[:9]) for p in reply.places)
    else:
        assert "县级行政区域" in {p.place_type for p in reply.places}


async def test_default_limit_is_20(node):
    reply = await query(node, division_code="110000")
    assert len(reply.places) == 20


async def test_renamed_street_is_found_by_its_old_name(node, samples):
    sample = samples["place_name"]["renamed"][0]
    reply = await query(node, name=sample["old_name"])
    [got] = reply.places
    assert (got.name, got.code) == (sample["name"], sample["code"])
    assert list(got.history) == [f"2015年由{sample['old_name']}更名为{sample['name']}"]
    by_new = await query(node, name=sample["name"])
    assert sample["code"] in [p.code for p in by_new.places]


async def test_renamed_county_carries_its_history(node):
    """密云县 became 密云区 (code 110228 -> 110118) in 2015, as GB/T 2260 records."""
    status, body = await post_json(node, {"context": json_ctx(), "name": "密云区"})
    assert status == 200
    [county] = [p for p in body["result"]["places"] if p["place_type"] == "县级行政区域"]
    assert (county["division_code"], county["roman"]) == ("110118", "Miyun Qu")
    assert county["history"] == ["2015年由密云县更名为密云区"]


async def test_unknown_name_is_not_found_over_grpc_and_json(node, register, samples):
    name = samples["place_name"]["not_found"][0]["name"]
    reply = await query(node, name=name)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply.places
    status, body = await post_json(node, {"context": json_ctx(fresh=True), "name": name})
    assert status == 200 and body["verdict"] == "NOT_FOUND" and body["result"]["places"] == []
    assert register.requests == [{"place_code": "", "standard_name": name}] * 2


async def test_wrong_secret_is_source_unavailable_not_a_verdict(node_for, world, samples):
    register = PlaceNameDepartment(world, {APP_ID: "another secret"})
    await register.start()
    try:
        node = await node_for({"place_name": register.url})
        reply = await query(node, name=samples["place_name"]["exact"][0]["name"])
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.places
        assert "signature refused" in reply.provenance.unavailable_reason
        assert register.requests == []
    finally:
        await register.stop()


async def test_service_error_is_source_unavailable_and_recovers(node, register, samples):
    register.next_statuses.extend(["9900"] * 3)
    name = samples["place_name"]["exact"][0]["name"]
    reply = await query(node, name=name)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "9900" in reply.provenance.unavailable_reason
    register.next_statuses.clear()
    reply = await node.stub.QueryPlaceNames(pb.QueryPlaceNamesRequest(context=ctx(fresh=True), name=name))
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND


# ------------------------------------------------------------------ golden pairs (INTERFACES.md §10, made-up values)

ROW = {"place_code": "32010212345600000001", "standard_name": "青石河", "roman_alphabet_spelling": "Qīngshí Hé",
       "place_type": "河流", "place_meaning": "因河床多青石得名", "place_origin": "明代已有此名",
       "place_history": "1958年由青石溪更名为青石河"}


def reply_body(data, status: str = "0200") -> bytes:
    return json.dumps({"head": {"status": status, "msg": "正常", "requestType": "MZ03"}, "data": data},
                      ensure_ascii=False).encode()


@pytest.mark.parametrize("key,sent", [
    ({"name": "青石河"}, {"place_code": "", "standard_name": "青石河"}),
    ({"division_code": "320102"}, {"place_code": "320102", "standard_name": ""}),
    ({"division_code": "320102123000"}, {"place_code": "320102", "standard_name": ""}),
], ids=["by name", "by county", "by township: its county asked"])
async def test_the_request_is_the_documented_shape(node_for, fake_upstream, key, sent):
    seen = []

    async def handle(request):
        seen.append(json.loads(await request.read()))
        return web.Response(body=reply_body({"count": 0, "rows": []}), content_type="application/json")
    node = await node_for({"place_name": await fake_upstream(handle)})
    got = await query(node, **key)
    assert got.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    [body] = seen
    assert body["data"] == sent
    assert body["head"]["requestType"] == "MZ03" and re.fullmatch(r"\d{20}", body["head"]["cxqqdh"])


@pytest.mark.parametrize("spell", [str.lower, str.upper, str.title], ids=["lower", "UPPER", "Mixed"])
def test_documented_reply_is_read_in_any_case(spell):
    data = lower_keys({"count": 1, "rows": [{spell(k): v for k, v in ROW.items()}]})
    [got] = parse(data, PlaceNameQuery(name="青石河")).places
    assert (got.name, got.code, got.division_code, got.place_type, got.roman) == (
        "青石河", "32010212345600000001", "320102", "河流", "Qīngshí Hé")
    assert got.meaning == "因河床多青石得名；来历：明代已有此名"
    assert got.history == ("1958年由青石溪更名为青石河",)


def test_a_loose_name_search_keeps_only_rows_answering_the_query():
    other = ROW | {"place_code": "32010212345600000002", "standard_name": "青石河路", "place_history": ""}
    data = {"count": "2", "rows": [ROW, other]}  # count as text, as some relays send it
    assert [p.name for p in parse(data, PlaceNameQuery(name="青石河")).places] == ["青石河"]
    assert [p.name for p in parse(data, PlaceNameQuery(name="青石", prefix=True)).places] == ["青石河", "青石河路"]
    assert [p.name for p in parse(data, PlaceNameQuery(name="青石溪")).places] == ["青石河"]  # its former name
    assert [p.name for p in parse(data, PlaceNameQuery(name="青石河", limit=1)).places] == ["青石河"]


def test_a_township_keeps_only_its_own_places_of_the_county():
    inside = ROW | {"place_code": "32010200100055100001"}
    data = {"count": 2, "rows": [ROW, inside]}
    assert [p.code for p in parse(data, PlaceNameQuery(division_code="320102001000")).places] == [inside["place_code"]]
    assert len(parse(data, PlaceNameQuery(division_code="320102")).places) == 2


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
    ("control character", {"name": "人民\x07路"}, "name"),
    ("markup", {"name": "<script>路"}, "name"),
    ("51 characters", {"name": "路" * 51}, "name"),
    ("13-digit code", {"division_code": "1101050010001"}, "division_code"),
    ("5-digit code", {"division_code": "11010"}, "division_code"),
    ("letters in code", {"division_code": "11010X"}, "division_code"),
    ("limit 101", {"name": "人民路", "limit": 101}, "limit"),
    ("negative limit", {"name": "人民路", "limit": -1}, "limit"),
    ("neither key", {}, "name|division_code"),
])
async def test_bad_input_is_invalid_argument_and_never_reaches_the_register(node, register, label, key, field):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await query(node, **key)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert register.stats["requests"] == 0


@pytest.mark.parametrize("label,key,field", [
    ("limit 0", {"name": "人民路", "limit": 0}, "limit"),
    ("limit 101", {"name": "人民路", "limit": 101}, "limit"),
    ("both keys", {"name": "人民路", "division_code": "110105"}, "name|division_code"),
    ("13-digit code", {"division_code": "1101050010001"}, "division_code"),
    ("embedded newline", {"name": "人民\n路"}, "name"),
    ("code not a string", {"division_code": 110105}, "division_code"),
])
async def test_bad_json_input_is_problem_json_and_never_reaches_the_register(node, register, label, key, field):
    status, problem = await post_json(node, {"context": json_ctx(), **key})
    assert status == 400
    assert [p["name"] for p in problem["invalid_params"]] == [field]
    assert register.stats["requests"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_department_down_is_source_unavailable(node_for):
    node = await node_for({"place_name": f"http://127.0.0.1:{_closed_port()}"})
    reply = await query(node, name="人民路")
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "cannot connect" in reply.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(), "division_code": "110105"})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"


# ------------------------------------------------------------------ broken upstream


async def _truncated(request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write(b'{"head": {"status": "0200"}, "data": {"count": 1, "rows": [')
    request.transport.close()
    return resp


def _rows(*rows, count=None) -> bytes:
    return reply_body({"count": len(rows) if count is None else count, "rows": list(rows)})


BROKEN = [
    ("invalid JSON", b'{"head": {"status": "0200"}, "data": {"rows": [', "not UTF-8 JSON"),
    ("HTML error page with 200", "<html><body>502 Bad Gateway 地名服务维护中</body></html>".encode(), "not UTF-8 JSON"),
    ("no head status", json.dumps({"data": {"count": 0, "rows": []}}).encode(), "no head status"),
    ("permission refused 0302", reply_body(None, "0302"), "0302"),
    ("rate limited 0401", reply_body(None, "0401"), "0401"),
    ("service error 9900", reply_body(None, "9900"), "9900"),
    ("data a bare array", reply_body([ROW]), "not an object"),
    ("no rows", reply_body({"count": 1}), "wrong type"),
    ("count not a number", reply_body({"count": "one", "rows": [ROW]}), "wrong type"),
    ("more rows than count", _rows(ROW, count=0), "disagree"),
    ("same place twice", _rows(ROW, ROW), "repeated"),
    ("row is a string", _rows("青石河"), "not an object"),
    ("missing standard name", _rows({k: v for k, v in ROW.items() if k != "standard_name"}), "required text field"),
    ("name is a number", _rows(ROW | {"standard_name": 12345}), "required text field"),
    ("meaning is a list", _rows(ROW | {"place_meaning": ["寓意"]}), "not text"),
    ("control character in name", _rows(ROW | {"standard_name": "青石河\x00"}), "control characters"),
    ("19-digit place code", _rows(ROW | {"place_code": ROW["place_code"][:19]}), "20 digits"),
    ("6-digit place code (the query code)", _rows(ROW | {"place_code": "320102"}), "20 digits"),
    ("GBK bytes declared UTF-8", json.dumps({"head": {"status": "0200"}, "data": {"count": 1, "rows": [ROW]}},
                                            ensure_ascii=False).encode("gbk"), "not UTF-8 JSON"),
]


@pytest.mark.parametrize("label,body,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(node_for, fake_upstream, label, body, reason):
    seen = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(await request.read())
        return web.Response(body=body, content_type="application/json")

    node = await node_for({"place_name": await fake_upstream(handle)})
    reply = await query(node, name="青石河")
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.places
    assert reason in reply.provenance.unavailable_reason
    assert "青石" not in reply.provenance.unavailable_reason
    status, body = await post_json(node, {"context": json_ctx(), "name": "青石河"})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"


async def test_a_place_outside_the_asked_division_is_source_unavailable(node_for, fake_upstream):
    async def handle(request):
        return web.Response(body=_rows(ROW), content_type="application/json")
    node = await node_for({"place_name": await fake_upstream(handle)})
    reply = await query(node, division_code="110105")
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and "outside the division" in reply.provenance.unavailable_reason


async def test_truncated_reply_is_source_unavailable(node_for, fake_upstream):
    node = await node_for({"place_name": await fake_upstream(_truncated)})
    reply = await query(node, name="青石河")
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
