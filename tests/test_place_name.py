"""QueryPlaceNames end to end: node (gRPC and JSON) -> place-name connector -> mock 民政部
地名信息库, over real sockets; then a register that breaks its protocol in every way we know of."""
from __future__ import annotations

import json
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mocks.gazetteer import gazetteer
from mocks.place_name import PlaceNameDepartment, row
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
    assert (got.roman, got.place_type, got.place_type_code) == (want.roman, "街路巷", "5510")
    assert got.division_name == want.county_path + want.township_name
    assert (got.longitude, got.latitude) == (want.longitude, want.latitude)
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
        assert "行政区域" in {p.place_type for p in reply.places}


async def test_default_limit_is_20(node):
    reply = await query(node, division_code="110000")
    assert len(reply.places) == 20


async def test_renamed_street_is_found_by_its_old_name(node, samples):
    sample = samples["place_name"]["renamed"][0]
    reply = await query(node, name=sample["old_name"])
    [got] = reply.places
    assert (got.name, got.code) == (sample["name"], sample["code"])
    assert list(got.history) == [f"2015年 由 {sample['old_name']} 更名"]
    by_new = await query(node, name=sample["name"])
    assert sample["code"] in [p.code for p in by_new.places]


async def test_renamed_county_carries_its_history(node):
    """密云县 became 密云区 (code 110228 -> 110118) in 2015, as GB/T 2260 records."""
    status, body = await post_json(node, {"context": json_ctx(), "name": "密云区"})
    assert status == 200
    [county] = [p for p in body["result"]["places"] if p["place_type_code"] == "1130"]
    assert (county["division_code"], county["roman"]) == ("110118", "Miyun Qu")
    assert county["history"] == ["2015年 由 密云县 更名"]


async def test_unknown_name_is_not_found_over_grpc_and_json(node, register, samples):
    name = samples["place_name"]["not_found"][0]["name"]
    reply = await query(node, name=name)
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND and not reply.places
    status, body = await post_json(node, {"context": json_ctx(fresh=True), "name": name})
    assert status == 200 and body["verdict"] == "NOT_FOUND" and body["result"]["places"] == []
    assert register.stats["requests"] == 2


async def test_request_id_is_forwarded(node, register, samples):
    await node.stub.QueryPlaceNames(pb.QueryPlaceNamesRequest(
        context=ctx(request_id="req-place-0001"), name=samples["place_name"]["exact"][0]["name"]))
    assert register.request_ids == ["req-place-0001"]


async def test_wrong_secret_is_source_unavailable_not_a_verdict(node_for, world, samples):
    register = PlaceNameDepartment(world, {APP_ID: "another secret"})
    await register.start()
    try:
        node = await node_for({"place_name": register.url})
        reply = await query(node, name=samples["place_name"]["exact"][0]["name"])
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.places
        assert "API key refused" in reply.provenance.unavailable_reason
        assert register.stats["refused"] >= 1
    finally:
        await register.stop()


async def test_maintenance_is_source_unavailable_and_recovers(node, register, samples):
    register.maintenance = True
    name = samples["place_name"]["exact"][0]["name"]
    reply = await query(node, name=name)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "maintenance" in reply.provenance.unavailable_reason
    register.maintenance = False
    reply = await node.stub.QueryPlaceNames(pb.QueryPlaceNamesRequest(context=ctx(fresh=True), name=name))
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND


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


def _json(payload, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(payload, ensure_ascii=False).encode(), status=status,
                        content_type="application/json", charset="utf-8")


def _rows(rows, total=None, errcode=0) -> web.Response:
    return _json({"errcode": errcode, "errmsg": "ok", "total": len(rows) if total is None else total, "rows": rows})


def _altered(place, **changes) -> list[dict]:
    r = row(place)
    r.update(changes)
    return [{k: v for k, v in r.items() if v is not ...}]


async def _truncated(request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = 4096
    await resp.prepare(request)
    await resp.write(b'{"errcode": 0, "total": 1, "rows": [')
    request.transport.close()
    return resp


async def _chunked_huge(request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for _ in range(10):
        await resp.write(b" " * (1024 * 1024))
    await resp.write_eof()
    return resp


POINT = {"type": "Point", "coordinates": [116.4, 39.9]}

BROKEN = [
    ("invalid JSON", lambda p: web.Response(text='{"errcode": 0, "rows": [', content_type="application/json"),
     "not UTF-8 JSON"),
    ("HTML error page with 200", lambda p: web.Response(
        text="<html><body><h1>502 Bad Gateway</h1>地名服务维护中</body></html>", content_type="text/html"),
     "not UTF-8 JSON"),
    ("JSON array", lambda p: _json([row(p)]), "not a JSON object"),
    ("errcode as text", lambda p: _json({"errcode": "0", "total": 1, "rows": [row(p)]}), "integer errcode"),
    ("unknown errcode", lambda p: _rows([row(p)], errcode=77777), "unknown errcode"),
    ("no rows", lambda p: _json({"errcode": 0, "total": 1}), "wrong type"),
    ("total is text", lambda p: _json({"errcode": 0, "total": "1", "rows": [row(p)]}), "wrong type"),
    ("rows disagree with total", lambda p: _rows([row(p)], total=0), "disagrees"),
    ("more rows than the limit", lambda p: _rows(_altered(p) * 25), "disagrees"),
    ("same place twice", lambda p: _rows(_altered(p) * 2), "repeated"),
    ("row is a string", lambda p: _rows(["枫林东路"]), "not an object"),
    ("missing standard name", lambda p: _rows(_altered(p, bzmc=...)), "required text field"),
    ("name is a number", lambda p: _rows(_altered(p, bzmc=12345)), "required text field"),
    ("meaning is a list", lambda p: _rows(_altered(p, dmhy=["寓意"])), "not text"),
    ("control character in name", lambda p: _rows(_altered(p, bzmc=p.name + "\x00")), "control characters"),
    ("19-digit place code", lambda p: _rows(_altered(p, dmdm=p.code[:19])), "code malformed"),
    ("place code outside its county", lambda p: _rows(_altered(p, xzqhdm="310101")), "code malformed"),
    ("unknown type code", lambda p: _rows(_altered(p, dmlbdm="9990")), "unknown place type code"),
    ("type text disagrees with code", lambda p: _rows(_altered(p, dmlb="居民点")), "disagrees with its code"),
    ("roman spelling in Chinese", lambda p: _rows(_altered(p, lmpy=p.name)), "Latin letters"),
    ("a row for another place", lambda p: _rows(_altered(p, bzmc="别的路", cym=[])), "does not match"),
    ("former name without year", lambda p: _rows(_altered(p, cym=[{"mc": "红星路"}])), "plausible year"),
    ("former names not a list", lambda p: _rows(_altered(p, cym="红星路")), "not a list"),
    ("geometry missing", lambda p: _rows(_altered(p, geometry=...)), "GeoJSON Point"),
    ("geometry a polygon", lambda p: _rows(_altered(p, geometry={"type": "Polygon", "coordinates": [[]]})),
     "GeoJSON Point"),
    ("coordinates as text", lambda p: _rows(_altered(p, geometry={**POINT, "coordinates": ["116.4", "39.9"]})),
     "two numbers"),
    ("three coordinates", lambda p: _rows(_altered(p, geometry={**POINT, "coordinates": [116.4, 39.9, 50]})),
     "two numbers"),
    ("latitude and longitude swapped", lambda p: _rows(_altered(p, geometry={**POINT, "coordinates": [39.9, 116.4]})),
     "outside China"),
    ("NaN coordinate", lambda p: web.Response(
        text=json.dumps({"errcode": 0, "total": 1, "rows": _altered(p, geometry={**POINT, "coordinates": [float("nan"), 39.9]})}),
        content_type="application/json"), "two numbers"),
    ("truncated body", lambda p: _truncated, "truncated"),
    ("10 MB body", lambda p: web.Response(body=b" " * (10 * 1024 * 1024), content_type="application/json"), "exceeds"),
    ("10 MB chunked body", lambda p: _chunked_huge, "exceeds"),
    ("GBK bytes declared UTF-8", lambda p: web.Response(
        body=json.dumps({"errcode": 0, "total": 1, "rows": [row(p)]}, ensure_ascii=False).encode("gbk"),
        content_type="application/json", charset="utf-8"), "not UTF-8 JSON"),
]


@pytest.mark.parametrize("label,make,reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_and_node_keeps_serving(
        node_for, fake_upstream, world, samples, label, make, reason):
    sample = samples["place_name"]["renamed"][0]
    place = place_by_code(world, sample["code"])
    seen = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-Request-Id"))
        made = make(place)
        return await made(request) if callable(made) else made

    node = await node_for({"place_name": await fake_upstream(handle)})
    reply = await query(node, name=sample["name"])
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.places
    assert reason in reply.provenance.unavailable_reason
    assert sample["old_name"] not in reply.provenance.unavailable_reason
    assert seen and all(seen)
    status, body = await post_json(node, {"context": json_ctx(), "name": sample["name"]})
    assert status == 200 and body["verdict"] == "SOURCE_UNAVAILABLE"
