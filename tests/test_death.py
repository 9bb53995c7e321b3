"""QueryDeath through the node (gRPC and JSON) against the mock National Health Commission,
and against broken upstreams that must never yield a verdict."""
from __future__ import annotations

import socket
from datetime import date

import aiohttp
import grpc
import pytest
from aiohttp import web

from mocks.death import DeathDepartment
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, json_ctx
from tests.test_identity_grpc import bad_request_fields


@pytest.fixture
async def death_mock(start_mock) -> DeathDepartment:
    return await start_mock(DeathDepartment)


@pytest.fixture
async def node(node_for, death_mock):
    return await node_for({"death": death_mock.url})


def request(person: dict, **context) -> pb.QueryDeathRequest:
    return pb.QueryDeathRequest(context=ctx(**context), id_number=person["id_number"], name=person["name"])


@pytest.mark.parametrize("index", [0, -1])
async def test_deceased_person_has_the_certificate(node, samples, world, index):
    person = samples["death"]["deceased"][index]
    reply = await node.stub.QueryDeath(request(person))
    death = world.deaths[person["id_number"]]
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert reply.record.died_on == person["died_on"] == death.died_on.isoformat()
    assert reply.record.certificate_number == person["certificate_number"] == death.certificate_number
    assert reply.record.issuer == death.issuer and reply.record.cause_code == death.cause_code
    assert reply.provenance.department == pb.DEPARTMENT_DEATH


async def test_living_person_has_no_record(node, samples):
    reply = await node.stub.QueryDeath(request(samples["death"]["living"][0]))
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    assert not reply.HasField("record")


async def test_identity_samples_are_alive(node, samples):
    """The identity samples' persons are the same world: none of them has died."""
    for person in samples["identity"]["match"][:2]:
        reply = await node.stub.QueryDeath(request(person))
        assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND


async def test_certificate_under_another_name_is_not_a_no(node, samples):
    person = dict(samples["death"]["deceased"][0], name="张冒名")
    reply = await node.stub.QueryDeath(request(person))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "do not belong" in reply.provenance.unavailable_reason
    assert "张冒名" not in reply.provenance.unavailable_reason


async def test_wrong_secret_is_refused(node_for, world, samples):
    mock = DeathDepartment(world, {APP_ID: "not-the-node-secret"})
    await mock.start()
    try:
        running = await node_for({"death": mock.url})
        reply = await running.stub.QueryDeath(request(samples["death"]["deceased"][0]))
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "refused (code 10)" in reply.provenance.unavailable_reason
        assert mock.stats["refused"] == 1
    finally:
        await mock.stop()


BAD_INPUTS = [
    ("bad check digit", {"id_number": "110105199003071230"}, "id_number"),
    ("short number", {"id_number": "11010519900307"}, "id_number"),
    ("empty name", {"name": ""}, "name"),
    ("digits in name", {"name": "张3"}, "name"),
]


@pytest.mark.parametrize("label,change,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_invalid_argument_without_upstream_call(node, death_mock, samples, label, change, field):
    person = samples["death"]["deceased"][0]
    fields = {"id_number": person["id_number"], "name": person["name"], **change}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.QueryDeath(pb.QueryDeathRequest(context=ctx(), **fields))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert death_mock.stats["requests"] == 0


async def test_department_down_is_source_unavailable(node_for, samples):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    running = await node_for({"death": f"http://127.0.0.1:{port}"})
    reply = await running.stub.QueryDeath(request(samples["death"]["deceased"][0]), timeout=3)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "cannot connect" in reply.provenance.unavailable_reason


async def post_json(node, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/death/query", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("group,verdict", [("deceased", "FOUND"), ("living", "NOT_FOUND")])
async def test_json(node, samples, group, verdict):
    person = samples["death"][group][0]
    code, body = await post_json(node, {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]})
    assert code == 200 and body["verdict"] == verdict
    if verdict == "FOUND":
        assert body["result"]["record"]["certificate_number"] == person["certificate_number"]
    else:
        assert body["result"]["record"] is None


async def test_json_bad_input_is_problem(node, death_mock):
    code, problem = await post_json(node, {"context": json_ctx(), "id_number": "110105199003071230", "name": "王芳"})
    assert code == 400 and [p["name"] for p in problem["invalid_params"]] == ["id_number"]
    assert death_mock.stats["requests"] == 0


# ------------------------------------------------------------------ broken upstream

FIELDS = ("SFZH", "XM", "XB", "MZ", "SWYYDM", "SWRQ", "ZMBH", "QFJG")


def record_of(world, person: dict) -> dict[str, str]:
    death = world.deaths[person["id_number"]]
    p = death.person
    return {"SFZH": p.id_number, "XM": p.name, "XB": p.sex, "MZ": p.ethnicity, "SWYYDM": death.cause_code,
            "SWRQ": death.died_on.isoformat(), "ZMBH": death.certificate_number, "QFJG": death.issuer}


def document(record: dict[str, str] | None, code: str = "00", encoding: str = "GBK", declared: str | None = None,
             raw_record: str | None = None) -> bytes:
    inner = raw_record if raw_record is not None else (
        "<Record>" + "".join(f"<{k}>{v}</{k}>" for k, v in record.items()) + "</Record>" if record else "")
    text = (f'<?xml version="1.0" encoding="{declared or encoding}"?>\n<Response><Head><Code>{code}</Code>'
            f"<Message>查询成功</Message></Head><Body>{inner}</Body></Response>")
    return text.encode(encoding)


def changed(**values):
    return lambda rec: document({**rec, **values})


def without(key):
    return lambda rec: document({k: v for k, v in rec.items() if k != key})


async def truncated(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/xml"})
    resp.content_length = 5000
    await resp.prepare(request)
    await resp.write(b'<?xml version="1.0" encoding="GBK"?><Response><Head><Code>00')
    request.transport.close()
    return resp


async def chunked_flood(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/xml"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(b'<?xml version="1.0" encoding="GBK"?><Response><Pad>')
    try:
        for _ in range(160):  # 10 MB in 64 KiB chunks; the client stops reading long before
            await resp.write(b"x" * 65536)
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                  b"<Response><Head><Code>&b;</Code></Head></Response>")

BROKEN = {
    "not XML": lambda rec: b"{\"Code\": \"00\"}",
    "HTML error page with 200": lambda rec: "<html><body><h1>服务器内部错误</h1></body></html>".encode(),
    "XHTML root": lambda rec: b"<html><body><Code>00</Code></body></html>",
    "unknown code": lambda rec: document(rec, code="07"),
    "found without record": lambda rec: document(None),
    "two records": lambda rec: document(None, raw_record="<Record/><Record/>"),
    "missing SWRQ": without("SWRQ"),
    "missing SFZH": without("SFZH"),
    "empty certificate": changed(ZMBH=""),
    "nested element as value": changed(SWRQ="<Y>2020</Y>"),
    "date in another format": changed(SWRQ="2020/01/01"),
    "date not a date": changed(SWRQ="2020-02-30"),
    "date before birth": changed(SWRQ="1900-01-01"),
    "unknown sex code": changed(XB="5"),
    "unknown ethnicity code": changed(MZ="77"),
    "cause not ICD-10": changed(SWYYDM="心梗"),
    "another person's ID number": changed(SFZH="110105199003071234"),
    "another name": changed(XM="张冒名"),
    "truncated body": lambda rec: truncated,
    "10 MB body": lambda rec: document(None, raw_record="<Pad>" + "x" * (10 * 1024 * 1024) + "</Pad>"),
    "10 MB chunked body without length": lambda rec: chunked_flood,
    "declared GBK, sent UTF-8": lambda rec: document(rec, encoding="utf-8", declared="GBK"),
    "declared UTF-8, sent GBK": lambda rec: document(rec, encoding="gbk", declared="UTF-8"),
    "undeclared, sent GBK": lambda rec: document(rec).split(b"?>", 1)[1],
    "unsupported encoding": lambda rec: document(rec, encoding="utf-16", declared="UTF-16"),
    "entity expansion": lambda rec: BILLION_LAUGHS,
}


@pytest.mark.parametrize("label", BROKEN)
async def test_broken_reply_is_source_unavailable_never_a_verdict(node_for, fake_upstream, world, samples, label):
    person = samples["death"]["deceased"][0]
    seen = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-Request-Id"))
        made = BROKEN[label](record_of(world, person))
        if callable(made):
            return await made(request)
        return web.Response(body=made, content_type="application/xml")

    running = await node_for({"death": await fake_upstream(handler)})
    reply = await running.stub.QueryDeath(request(person, request_id="req-death-1"))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert not reply.HasField("record")
    reason = reply.provenance.unavailable_reason
    assert reason.startswith("death:")
    assert person["id_number"] not in reason and person["name"] not in reason
    assert seen[-1] == "req-death-1"
    again = await running.stub.QueryDeath(request(person))  # the node keeps serving
    assert again.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE


@pytest.mark.parametrize("label,code,verdict", [
    ("no certificate", "01", pb.LOOKUP_VERDICT_NOT_FOUND),
    ("busy", "99", pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE),
    ("bad request", "11", pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE),
])
async def test_department_codes(node_for, fake_upstream, samples, label, code, verdict):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=document(None, code=code), content_type="application/xml")

    running = await node_for({"death": await fake_upstream(handler)})
    reply = await running.stub.QueryDeath(request(samples["death"]["deceased"][0]))
    assert reply.verdict == verdict


@pytest.mark.parametrize("encoding", ["GBK", "GB18030", "UTF-8"])
async def test_certificate_numbered_by_id_number_in_any_declared_encoding(node_for, fake_upstream, world, samples,
                                                                          encoding):
    """Control for the broken-reply tests, and the 2026-07-01 rule: the certificate code is the
    deceased's ID number (the small world may hold no such death, so the reply is made here)."""
    person = samples["death"]["deceased"][0]
    record = {**record_of(world, person), "SWRQ": date(2026, 7, 15).isoformat(), "ZMBH": person["id_number"]}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=document(record, encoding=encoding), content_type="application/xml")

    running = await node_for({"death": await fake_upstream(handler)})
    reply = await running.stub.QueryDeath(request(person))
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert reply.record.certificate_number == person["id_number"]
    assert reply.record.died_on == "2026-07-15" and reply.record.issuer == record["QFJG"]
