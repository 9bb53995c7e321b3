"""QueryDeath through the node (gRPC and JSON) against the mock National Health Commission,
and against broken upstreams that must never yield a verdict."""
from __future__ import annotations

import json
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web

from connectors.base import BadUpstream
from connectors.base.ministry import lower_keys
from connectors.death.client import mdeml_request
from connectors.death.reply import parse
from mocks.death import DeathDepartment
from querynode.domain.model import DeathQuery, DeathRecord, DeathResult
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
async def test_deceased_person_has_the_date_of_death(node, death_mock, samples, world, index):
    person = samples["death"]["deceased"][index]
    reply = await node.stub.QueryDeath(request(person))
    death = world.deaths[person["id_number"]]
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert reply.record.died_on == person["died_on"] == death.died_on.isoformat()
    assert reply.provenance.department == pb.DEPARTMENT_DEATH
    # without a relay: the Hefei OpenAPI content, the MDEML request keyed GMSFZH
    [asked] = death_mock.requests
    assert asked["api_method"] == "wjwswyxzmcx"
    assert f"<GMSFZH>{person['id_number']}</GMSFZH>" in asked["xml"]


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
    assert "about another person" in reply.provenance.unavailable_reason
    assert "张冒名" not in reply.provenance.unavailable_reason


async def test_wrong_secret_is_refused(node_for, world, samples):
    mock = DeathDepartment(world, {APP_ID: "not-the-node-secret"})
    await mock.start()
    try:
        running = await node_for({"death": mock.url})
        reply = await running.stub.QueryDeath(request(samples["death"]["deceased"][0]))
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "signature refused" in reply.provenance.unavailable_reason
        assert mock.requests == []
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
    assert death_mock.requests == []


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
        assert body["result"]["record"] == {"died_on": person["died_on"]}
    else:
        assert body["result"]["record"] is None


async def test_json_bad_input_is_problem(node, death_mock):
    code, problem = await post_json(node, {"context": json_ctx(), "id_number": "110105199003071230", "name": "王芳"})
    assert code == 400 and [p["name"] for p in problem["invalid_params"]] == ["id_number"]
    assert death_mock.requests == []


# ------------------------------------------------------------------ golden pairs (INTERFACES.md §11)

NUMBER, NAME = "110101195001011239", "王五"  # made up
ASKED = DeathQuery(NUMBER, NAME)
REQUEST = ('<MDEML templateVersion="1.0"><requestinfo><requestDate>2024-01-05 10:30:15</requestDate>'
           "<requestOrgCode>000000000</requestOrgCode><requestOrgName>某不动产登记中心</requestOrgName></requestinfo>"
           "<body><data><GMSFZH>110101195001011239</GMSFZH><XM>王五</XM></data></body></MDEML>")
RECORD = "<GMSFHM>110101195001011239</GMSFHM><XM>王五</XM><XBDM>1</XBDM><MZDM>01</MZDM><SWYY>急性心肌梗死</SWYY>"


def mdeml(*records: str, success: str = "0", resultinfo: str = "resultinfo") -> str:
    data = "".join(f"<data>{r}</data>" for r in records)
    return (f'<MDEML templateVersion="1.0"><{resultinfo}><success>{success}</success><message>成功</message>'
            f"</{resultinfo.strip()}><body>{data}</body></MDEML>")


def test_the_request_is_the_documented_mdeml():
    from datetime import datetime
    assert mdeml_request(ASKED, "000000000", "某不动产登记中心", datetime(2024, 1, 5, 10, 30, 15)) == REQUEST


def test_documented_reply_is_read():
    assert parse(mdeml(RECORD + "<SWRQ>2024-01-02</SWRQ>"), ASKED) == DeathResult(DeathRecord("2024-01-02"))


def test_no_data_is_no_death_record():
    assert parse(mdeml(), ASKED) == DeathResult(None)


@pytest.mark.parametrize("reply", [
    mdeml(RECORD + "<SWRQ>2024-01-02</SWRQ>", RECORD + "<SWRQ>2024-01-02</SWRQ>"),  # a list of <data>
    mdeml(RECORD + "<SWRQ>20240102</SWRQ>"),  # the SWRQ format is undocumented: each plausible one
    mdeml(RECORD + "<SWRQ>2024-01-02 13:45:00</SWRQ>"),
    mdeml(RECORD + "<SWRQ>2024-01-02</SWRQ>", resultinfo="resultinfo "),  # gtmap's alias with its space
    '<?xml version="1.0" encoding="GBK"?>' + mdeml(RECORD.lower() + "<swrq>2024-01-02</swrq>"),  # any case
    mdeml(RECORD.replace("王五", " 王五 ") + "<SWRQ>2024-01-02</SWRQ>"),  # padding
    json.dumps(mdeml(RECORD + "<SWRQ>2024-01-02</SWRQ>"), ensure_ascii=False).replace("/", "\\/"),  # JSON-escaped
    "&lt;MDEML templateVersion=&quot;1.0&quot;&gt;&lt;resultinfo&gt;&lt;success&gt;0&lt;/success&gt;&lt;/resultinfo&gt;"
    "&lt;body&gt;&lt;data&gt;&lt;GMSFHM&gt;110101195001011239&lt;/GMSFHM&gt;&lt;XM&gt;王五&lt;/XM&gt;"
    "&lt;SWRQ&gt;2024-01-02&lt;/SWRQ&gt;&lt;/data&gt;&lt;/body&gt;&lt;/MDEML&gt;",  # HTML-escaped
], ids=["list", "yyyyMMdd", "with time", "resultinfo with a space", "lower case", "padded", "JSON-escaped",
        "HTML-escaped"])
def test_documented_variants_and_quirks_are_read(reply):
    assert parse(reply, ASKED) == DeathResult(DeathRecord("2024-01-02"))


def test_the_provincial_variant_is_read():
    """zw_nhcprc_death-cert (§11.2): request {xm, sfzh}; cxjg an array of the same records."""
    rows = [{"XM": NAME, "GMSFHM": NUMBER, "XBDM": 1, "MZDM": "01", "SWRQ": "2024-01-02", "SWYY": "肺炎"}]
    assert parse(lower_keys(rows), ASKED) == DeathResult(DeathRecord("2024-01-02"))
    assert parse([], ASKED) == DeathResult(None)


MALFORMED = [
    ("not XML", "<MDEML><body>", "not well-formed"),
    ("another document", "<Response><Head><Code>00</Code></Head></Response>", "not an MDEML"),
    ("no success flag", '<MDEML templateVersion="1.0"><body/></MDEML>', "no resultinfo"),
    ("success not 0", mdeml(success="1"), "not successful"),
    ("record of someone else", mdeml(RECORD.replace("1239", "1247") + "<SWRQ>2024-01-02</SWRQ>"), "another person"),
    ("record under another name", mdeml(RECORD.replace("王五", "王六") + "<SWRQ>2024-01-02</SWRQ>"), "another person"),
    ("no SWRQ", mdeml(RECORD), "lacks"),
    ("SWRQ not a date", mdeml(RECORD + "<SWRQ>2024-02-30</SWRQ>"), "not a date"),
    ("death before birth", mdeml(RECORD + "<SWRQ>1949-12-31</SWRQ>"), "before the birth"),
    ("two dates of death", mdeml(RECORD + "<SWRQ>2024-01-02</SWRQ>", RECORD + "<SWRQ>2023-01-02</SWRQ>"),
     "different dates"),
    ("sex contradicts the ID number", mdeml(RECORD.replace("<XBDM>1", "<XBDM>2") + "<SWRQ>2024-01-02</SWRQ>"),
     "sex code"),
    ("unknown ethnicity", mdeml(RECORD.replace("<MZDM>01", "<MZDM>77") + "<SWRQ>2024-01-02</SWRQ>"), "ethnicity"),
    ("nested field", mdeml("<GMSFHM><x/></GMSFHM>"), "not text"),
    ("entity expansion", '<!DOCTYPE x [<!ENTITY a "aaaa">]><MDEML>&a;</MDEML>', "not well-formed"),
]


@pytest.mark.parametrize("label, reply, reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_reply_is_bad_upstream(label, reply, reason):
    with pytest.raises(BadUpstream, match=reason):
        parse(reply, ASKED)


def envelope(data) -> bytes:
    return json.dumps({"head": {"status": "0200", "msg": "正常"}, "data": data}, ensure_ascii=False).encode()


BROKEN = [
    ("not JSON", b"<html>", "not UTF-8 JSON"),
    ("no data", json.dumps({"head": {"status": "0200"}}).encode(), "no data"),
    ("service error 9900", json.dumps({"head": {"status": "9900"}}).encode(), "9900"),
    ("a number", envelope(7), "neither MDEML"),
    *((label, envelope(reply), reason) for label, reply, reason in MALFORMED[:6]),
]


@pytest.mark.parametrize("label, body, reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_never_a_verdict(node_for, fake_upstream, label, body, reason):
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    running = await node_for({"death": await fake_upstream(handle)})
    reply = await running.stub.QueryDeath(pb.QueryDeathRequest(context=ctx(), id_number=NUMBER, name=NAME))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not reply.HasField("record")
    assert reason in reply.provenance.unavailable_reason
    assert NUMBER not in reply.provenance.unavailable_reason and NAME not in reply.provenance.unavailable_reason


@pytest.mark.parametrize("quirk", ["trailing_space", "html_escaped", "duplicate"])
async def test_the_mock_quirks_are_read_through_the_node(node, death_mock, samples, quirk):
    setattr(death_mock, quirk, True)
    person = samples["death"]["deceased"][0]
    reply = await node.stub.QueryDeath(request(person))
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND and reply.record.died_on == person["died_on"]


def test_the_mock_answers_the_provincial_shape(world, samples):
    person = samples["death"]["deceased"][0]
    mock = DeathDepartment(world, {})
    [row] = mock.answers()["zw_nhcprc_death-cert"]([{"xm": person["name"], "sfzh": person["id_number"]}])
    assert parse(lower_keys([row]), DeathQuery(person["id_number"], person["name"])).record.died_on == person["died_on"]
