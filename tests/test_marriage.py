"""QueryMarriage through the node (gRPC and JSON) against the mock Ministry of Civil Affairs,
and against broken upstreams that must never yield a status."""
from __future__ import annotations

import json
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web

from mocks.marriage import MarriageDepartment, act_record
from querynode.domain.model import Department
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, json_ctx
from tests.test_identity_grpc import bad_request_fields


@pytest.fixture
async def marriage_mock(start_mock) -> MarriageDepartment:
    return await start_mock(MarriageDepartment)


@pytest.fixture
async def node(node_for, marriage_mock):
    return await node_for({Department.MARRIAGE: marriage_mock.url})


def request(person: dict, couple: bool = False, **context) -> pb.QueryMarriageRequest:
    spouse = {"spouse_id_number": person["spouse_id_number"], "spouse_name": person["spouse_name"]} if couple else {}
    return pb.QueryMarriageRequest(context=ctx(**context), id_number=person["id_number"], name=person["name"], **spouse)


def acts_of(world, person: dict):
    return world.acts_of(person["id_number"])


# ------------------------------------------------------------------ each state, over gRPC

@pytest.mark.parametrize("group,status", [
    ("married", pb.MARITAL_STATUS_MARRIED),
    ("remarried", pb.MARITAL_STATUS_MARRIED),
    ("divorced", pb.MARITAL_STATUS_DIVORCED),
    ("annulled", pb.MARITAL_STATUS_ANNULLED),
])
async def test_status_and_history_of_each_sample(node, samples, world, group, status):
    person = samples["marriage"][group][0]
    reply = await node.stub.QueryMarriage(request(person))
    assert reply.status == status
    assert reply.verdict == pb.LOOKUP_VERDICT_FOUND
    assert reply.provenance.department == pb.DEPARTMENT_MARRIAGE
    acts = acts_of(world, person)
    assert [r.certificate_number for r in reply.records] == [a.certificate_number for a in acts]
    assert all(r.party_id_number == person["id_number"] and r.party_name == person["name"] for r in reply.records)
    assert [r.registered_on for r in reply.records] == sorted(r.registered_on for r in reply.records)
    if status == pb.MARITAL_STATUS_MARRIED:
        assert (reply.spouse_name, reply.spouse_id_number) == (person["spouse_name"], person["spouse_id_number"])
    else:
        assert reply.spouse_name == "" and reply.spouse_id_number == ""
    assert not reply.married_to_each_other


async def test_remarried_person_has_the_latest_spouse_not_the_first(node, samples, world):
    person = samples["marriage"]["remarried"][0]
    reply = await node.stub.QueryMarriage(request(person))
    first_spouse = {r.spouse_id_number for r in reply.records if r.act == pb.MARRIAGE_ACT_MARRIAGE}
    assert len(first_spouse) == 2 and person["spouse_id_number"] in first_spouse
    assert pb.MARRIAGE_ACT_DIVORCE in [r.act for r in reply.records]
    assert reply.spouse_id_number == person["spouse_id_number"]


async def test_never_registered_is_no_record(node, samples):
    person = samples["marriage"]["no_record"][0]
    reply = await node.stub.QueryMarriage(request(person))
    assert reply.status == pb.MARITAL_STATUS_NO_RECORD
    assert reply.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    assert list(reply.records) == [] and reply.spouse_id_number == ""


async def test_registration_under_a_former_name_is_found_by_id_number(node, world):
    """The registry matches the ID number, not the name: a person renamed since the marriage
    (the world has one) must not read as unmarried."""
    id_number, former = next(iter(world.renamed.items()))
    current = world.person(id_number)
    reply = await node.stub.QueryMarriage(request({"id_number": id_number, "name": current.name}))
    assert reply.status == pb.MARITAL_STATUS_MARRIED
    assert [r.certificate_number for r in reply.records] == [
        a.certificate_number for a in world.acts_of(id_number)]
    assert former != current.name


@pytest.mark.parametrize("group,together", [("couple", True), ("not_a_couple", False)])
async def test_couple_query(node, marriage_mock, samples, group, together):
    person = samples["marriage"][group][0]
    reply = await node.stub.QueryMarriage(request(person, couple=True))
    assert reply.married_to_each_other is together
    assert reply.status == pb.MARITAL_STATUS_MARRIED
    assert all(r.party_id_number == person["id_number"] for r in reply.records)
    assert marriage_mock.stats["requests"] == 2  # token + one query naming both


async def test_couple_with_the_spouse_name_misspelt_is_not_married_to_each_other(node, samples):
    person = dict(samples["marriage"]["couple"][0])
    person["spouse_name"] = "张" + person["spouse_name"][1:] if person["spouse_name"][0] != "张" else "李" + person["spouse_name"][1:]
    reply = await node.stub.QueryMarriage(request(person, couple=True))
    assert reply.status == pb.MARITAL_STATUS_MARRIED and not reply.married_to_each_other


async def test_expired_token_is_renewed_once(node, marriage_mock, samples):
    person = samples["marriage"]["married"][0]
    await node.stub.QueryMarriage(request(person))
    marriage_mock._tokens.clear()  # the department forgets every token it issued
    reply = await node.stub.QueryMarriage(request(person, fresh=True))
    assert reply.status == pb.MARITAL_STATUS_MARRIED
    assert marriage_mock.stats["tokens"] == 2
    assert marriage_mock.stats["refused"] == 1


async def test_wrong_secret_is_source_unavailable(node_for, world, samples):
    mock = MarriageDepartment(world, {APP_ID: "not-the-node-secret"})
    await mock.start()
    try:
        running = await node_for({Department.MARRIAGE: mock.url})
        reply = await running.stub.QueryMarriage(request(samples["marriage"]["married"][0]))
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "token refused" in reply.provenance.unavailable_reason
        assert mock.stats["refused"] == 1
    finally:
        await mock.stop()


# ------------------------------------------------------------------ invalid input, department down

BAD_INPUTS = [
    ("bad check digit", {"id_number": "110105199003071230"}, "id_number"),
    ("empty name", {"name": ""}, "name"),
    ("markup in name", {"name": "<b>张三</b>"}, "name"),
    ("spouse number without name", {"spouse_id_number": "SPOUSE", "spouse_name": ""}, "spouse_name"),
    ("spouse name without number", {"spouse_name": "王芳"}, "spouse_id_number"),
    ("bad spouse number", {"spouse_id_number": "11010519900307123", "spouse_name": "王芳"}, "spouse_id_number"),
]


@pytest.mark.parametrize("label,change,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_is_invalid_argument_without_upstream_call(node, marriage_mock, samples, label, change, field):
    person = samples["marriage"]["couple"][0]
    fields = {"id_number": person["id_number"], "name": person["name"], **change}
    if fields.get("spouse_id_number") == "SPOUSE":
        fields["spouse_id_number"] = person["spouse_id_number"]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.QueryMarriage(pb.QueryMarriageRequest(context=ctx(), **fields))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]
    assert marriage_mock.stats["requests"] == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_department_down_is_source_unavailable(node_for, samples):
    running = await node_for({Department.MARRIAGE: f"http://127.0.0.1:{closed_port()}"})
    person = samples["marriage"]["married"][0]
    reply = await running.stub.QueryMarriage(request(person), timeout=3)
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert reply.status == pb.MARITAL_STATUS_UNSPECIFIED
    assert "cannot connect" in reply.provenance.unavailable_reason


# ------------------------------------------------------------------ JSON API

async def post_json(node, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.http_url}/api/v1/marriage/query", json=body) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("group,status,verdict", [
    ("married", "MARRIED", "FOUND"), ("remarried", "MARRIED", "FOUND"), ("divorced", "DIVORCED", "FOUND"),
    ("annulled", "ANNULLED", "FOUND"), ("no_record", "NO_RECORD", "NOT_FOUND"),
])
async def test_json_status(node, samples, group, status, verdict):
    person = samples["marriage"][group][0]
    code, body = await post_json(node, {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]})
    assert code == 200
    assert body["verdict"] == verdict and body["result"]["status"] == status
    assert body["result"]["spouse_id_number"] == (person.get("spouse_id_number", "") if status == "MARRIED" else "")


@pytest.mark.parametrize("group,together", [("couple", True), ("not_a_couple", False)])
async def test_json_couple(node, samples, group, together):
    person = samples["marriage"][group][0]
    code, body = await post_json(node, {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"],
                                        "spouse_id_number": person["spouse_id_number"],
                                        "spouse_name": person["spouse_name"]})
    assert code == 200 and body["result"]["married_to_each_other"] is together


async def test_json_bad_input_is_problem(node, marriage_mock, samples):
    person = samples["marriage"]["married"][0]
    code, problem = await post_json(node, {"context": json_ctx(), "id_number": person["id_number"][:-1] + "0"
                                           if person["id_number"][-1] != "0" else person["id_number"][:-1] + "1",
                                           "name": person["name"]})
    assert code == 400 and [p["name"] for p in problem["invalid_params"]] == ["id_number"]
    assert marriage_mock.stats["requests"] == 0


# ------------------------------------------------------------------ broken upstream

TOKEN = {"head": {"status": "0000", "msg": "成功"}, "data": {"access_token": "t0ken", "expires_in": 7200}}


def found(world, person: dict, mutate=None) -> bytes:
    records = [act_record(a) for a in world.acts_of(person["id_number"])]
    body = {"head": {"status": "0000", "msg": "查询成功"}, "data": {"total": len(records), "list": records}}
    if mutate:
        mutate(body)
    return json.dumps(body, ensure_ascii=False).encode()


def set_record(key, value):
    def mutate(body):
        body["data"]["list"][-1][key] = value
    return mutate


def drop_record(key):
    def mutate(body):
        del body["data"]["list"][0][key]
    return mutate


def someone_else(world):
    def mutate(body):
        asked = {r["cert_num_man"] for r in body["data"]["list"]} \
            | {r["cert_num_woman"] for r in body["data"]["list"]}
        stranger = next(a for a in world.marriages if not {a.man.id_number, a.woman.id_number} & asked)
        body["data"]["list"].append(act_record(stranger))
        body["data"]["total"] += 1
    return mutate


async def truncated(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = 5000
    await resp.prepare(request)
    await resp.write(b'{"head": {"status": "0000", "msg": "')
    request.transport.close()
    return resp


BROKEN = {
    "invalid JSON": lambda w, p: web.Response(body=b'{"head": {"status": "0000"', content_type="application/json"),
    "HTML error page with 200": lambda w, p: web.Response(text="<html><body><h1>系统维护中</h1></body></html>",
                                                         content_type="text/html"),
    "JSON array": lambda w, p: web.json_response([1, 2]),
    "no head": lambda w, p: web.json_response({"data": {}}),
    "head status not a string": lambda w, p: web.json_response({"head": {"status": 0}}),
    "unknown head status": lambda w, p: web.json_response({"head": {"status": "3001", "msg": "?"}}),
    "found without list": lambda w, p: web.json_response({"head": {"status": "0000"}, "data": {"total": 0}}),
    "total disagrees": lambda w, p: web.Response(body=found(w, p, lambda b: b["data"].update(total=9))),
    "missing op_date": lambda w, p: web.Response(body=found(w, p, drop_record("op_date"))),
    "op_date a number": lambda w, p: web.Response(body=found(w, p, set_record("op_date", 20100101))),
    "op_date not a date": lambda w, p: web.Response(body=found(w, p, set_record("op_date", "20101345"))),
    "unknown op_type": lambda w, p: web.Response(body=found(w, p, set_record("op_type", "IX"))),
    "bad nationality": lambda w, p: web.Response(body=found(w, p, set_record("nation_man", 86))),
    "record not an object": lambda w, p: web.Response(
        body=found(w, p, lambda b: b["data"].update(list=b["data"]["list"] + ["IA"], total=b["data"]["total"] + 1))),
    "act of someone else": lambda w, p: web.Response(body=found(w, p, someone_else(w))),
    "truncated body": lambda w, p: truncated,
    "10 MB body": lambda w, p: web.Response(body=b'{"head": {"status": "0000", "msg": "' + b"x" * (10 * 1024 * 1024)
                                            + b'"}}', content_type="application/json"),
    "GBK instead of UTF-8": lambda w, p: web.Response(body=found(w, p).decode().encode("gbk"),
                                                     content_type="application/json"),
}


@pytest.mark.parametrize("label", BROKEN)
async def test_broken_reply_is_source_unavailable_never_a_status(node_for, fake_upstream, world, samples, label):
    person = samples["marriage"]["remarried"][0]
    seen = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.path, request.headers.get("X-Request-Id")))
        if request.path.endswith("/token"):
            return web.json_response(TOKEN)
        made = BROKEN[label](world, person)
        return await made(request) if callable(made) else made

    running = await node_for({Department.MARRIAGE: await fake_upstream(handler)})
    reply = await running.stub.QueryMarriage(request(person, request_id="req-marriage-1"))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert reply.status == pb.MARITAL_STATUS_UNSPECIFIED and not reply.records
    reason = reply.provenance.unavailable_reason
    assert reason.startswith("marriage:")
    assert person["id_number"] not in reason and person["name"] not in reason
    assert seen[-1] == ("/mca/hyjk/query", "req-marriage-1")
    # the node keeps serving
    again = await running.stub.QueryMarriage(request(person))
    assert again.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE


async def test_the_fake_upstream_serves_a_good_reply_when_unbroken(node_for, fake_upstream, world, samples):
    """Control for the broken-reply tests: the same fake, unbroken, gives the right status."""
    person = samples["marriage"]["remarried"][0]

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/token"):
            return web.json_response(TOKEN)
        return web.Response(body=found(world, person), content_type="application/json")

    running = await node_for({Department.MARRIAGE: await fake_upstream(handler)})
    reply = await running.stub.QueryMarriage(request(person))
    assert reply.status == pb.MARITAL_STATUS_MARRIED
    assert reply.spouse_id_number == person["spouse_id_number"]


@pytest.mark.parametrize("acts,status,spouse", [
    # a reissued divorce certificate after a later remarriage changes nothing
    ([("IA", "20100101", "J"), ("IB", "20150101", "L"), ("IA", "20180101", "J2"), ("ICB", "20190101", "BL")],
     pb.MARITAL_STATUS_MARRIED, True),
    # only a reissue on record: it tells the status
    ([("ICA", "20120101", "BJ")], pb.MARITAL_STATUS_MARRIED, True),
    ([("IC", "20120101", "BL")], pb.MARITAL_STATUS_DIVORCED, False),
    ([("IA", "20120101", "J"), ("ID", "20120301", "J")], pb.MARITAL_STATUS_ANNULLED, False),
])
async def test_status_rules(node_for, fake_upstream, world, samples, acts, status, spouse):
    person = samples["marriage"]["married"][0]
    template = act_record(world.acts_of(person["id_number"])[0])

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/token"):
            return web.json_response(TOKEN)
        records = [dict(template, op_type=op, op_date=day, cert_num=f"{prefix}110105-2010-00000{i}")
                   for i, (op, day, prefix) in enumerate(acts)]
        return web.json_response({"head": {"status": "0000"}, "data": {"total": len(records), "list": records}})

    running = await node_for({Department.MARRIAGE: await fake_upstream(handler)})
    reply = await running.stub.QueryMarriage(request(person))
    assert reply.status == status
    assert (reply.spouse_id_number == person["spouse_id_number"]) is spouse


async def test_generic_reissue_of_unknown_kind_is_not_guessed(node_for, fake_upstream, world, samples):
    person = samples["marriage"]["married"][0]
    record = dict(act_record(world.acts_of(person["id_number"])[0]), op_type="IC", cert_num="X110105-2010-000001")

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/token"):
            return web.json_response(TOKEN)
        return web.json_response({"head": {"status": "0000"}, "data": {"total": 1, "list": [record]}})

    running = await node_for({Department.MARRIAGE: await fake_upstream(handler)})
    reply = await running.stub.QueryMarriage(request(person))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "reissue" in reply.provenance.unavailable_reason


async def test_connector_agrees_with_the_world_for_every_registered_person(marriage_mock, world, dept_secret):
    """Every person with registrations (both parties of every act), straight through the
    connector over a real socket: status and spouse as the world's latest IA/IB/ID says."""
    from connectors.base import CallInfo, ConnectorConfig
    from connectors.marriage import MarriageConnector
    from querynode.domain.model import MaritalStatus, MarriageQuery

    connector = MarriageConnector(ConnectorConfig(marriage_mock.url, APP_ID, dept_secret))
    persons = {p.id_number: p for a in world.marriages for p in (a.man, a.woman)}
    checked = 0
    try:
        for person in persons.values():
            deciding = [a for a in world.acts_of(person.id_number) if a.op_type in ("IA", "IB", "ID")]
            latest = deciding[-1]
            expected = {"IA": MaritalStatus.MARRIED, "IB": MaritalStatus.DIVORCED, "ID": MaritalStatus.ANNULLED}
            got = await connector.lookup(MarriageQuery(person.id_number, person.name),
                                         CallInfo("req", "case", "clerk", 5.0))
            assert got.status == expected[latest.op_type], person.id_number
            spouse = latest.woman if latest.man == person else latest.man
            assert got.spouse_id_number == (spouse.id_number if latest.op_type == "IA" else "")
            assert len(got.records) == len(world.acts_of(person.id_number))
            checked += 1
    finally:
        await connector.close()
    assert checked == len(persons) > 1000
    assert marriage_mock.stats["tokens"] == 1
