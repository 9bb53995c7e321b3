"""QueryMarriage through the node (gRPC and JSON) against the mock Ministry of Civil Affairs,
and against broken upstreams that must never yield a status."""
from __future__ import annotations

import json
import socket

import aiohttp
import grpc
import pytest
from aiohttp import web

from connectors.base import BadUpstream
from connectors.base.ministry import lower_keys
from connectors.marriage.client import request as marriage_request
from connectors.marriage.reply import parse
from mocks.marriage import MarriageDepartment
from querynode.domain.model import MaritalStatus, MarriageAct, MarriageQuery
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import APP_ID, ctx, json_ctx
from tests.test_identity_grpc import bad_request_fields


@pytest.fixture
async def marriage_mock(start_mock) -> MarriageDepartment:
    return await start_mock(MarriageDepartment)


@pytest.fixture
async def node(node_for, marriage_mock):
    return await node_for({"marriage": marriage_mock.url})


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
    # MZ01 is one person per call: the person's rows name the other party of each act
    assert marriage_mock.requests == [{"cert_num": person["id_number"], "name": person["name"]}]


async def test_couple_with_the_spouse_name_misspelt_is_not_married_to_each_other(node, samples):
    person = dict(samples["marriage"]["couple"][0])
    person["spouse_name"] = "张" + person["spouse_name"][1:] if person["spouse_name"][0] != "张" else "李" + person["spouse_name"][1:]
    reply = await node.stub.QueryMarriage(request(person, couple=True))
    assert reply.status == pb.MARITAL_STATUS_MARRIED and not reply.married_to_each_other


async def test_couple_spouse_name_is_compared_as_names_are(node, samples):
    """#17: the spouse-name check uses the one name comparison (spaces between Han characters,
    look-alike dots, case of Latin names): "张 三" typed for 张三 is the same spouse."""
    person = dict(samples["marriage"]["couple"][0])
    person["spouse_name"] = " ".join(person["spouse_name"])
    reply = await node.stub.QueryMarriage(request(person, couple=True))
    assert reply.married_to_each_other


async def test_relay_refusing_permission_is_source_unavailable(node, marriage_mock, samples):
    marriage_mock.next_statuses.append("0302")
    reply = await node.stub.QueryMarriage(request(samples["marriage"]["married"][0]))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert "0302" in reply.provenance.unavailable_reason


async def test_wrong_secret_is_source_unavailable(node_for, world, samples):
    mock = MarriageDepartment(world, {APP_ID: "not-the-node-secret"})
    await mock.start()
    try:
        running = await node_for({"marriage": mock.url})
        reply = await running.stub.QueryMarriage(request(samples["marriage"]["married"][0]))
        assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
        assert "signature refused" in reply.provenance.unavailable_reason
        assert mock.requests == []
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
    assert marriage_mock.requests == []


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_department_down_is_source_unavailable(node_for, samples):
    running = await node_for({"marriage": f"http://127.0.0.1:{closed_port()}"})
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
    assert marriage_mock.requests == []


# ------------------------------------------------------------------ golden pairs (INTERFACES.md §9.1)

# The documented example, made-up values: one marriage, dates with 00:00:00, an 8-digit office
# code, nationality as an ISO 3166 numeric code.
MAN, WOMAN = "320106199001011238", "320106199202022347"
DOCUMENTED = {"count": 1, "rows": [{
    "op_type": "IA", "op_date": "2018-05-20 00:00:00", "dept_code": "32010601", "dept_name": "某市某区民政局婚姻登记处",
    "cert_no": "J320106-2018-001234", "name_man": "张三", "cert_num_man": MAN, "birth_man": "1990-01-01 00:00:00",
    "nation_man": "156", "name_woman": "李四", "cert_num_woman": WOMAN, "birth_woman": "1992-02-02 00:00:00",
    "nation_woman": "156"}]}
ASKED = MarriageQuery(MAN, "张三")


def rows(*acts: tuple[str, str, str], other: tuple[str, str] = ("李四", WOMAN)) -> dict:
    """{count, rows} of the man's acts: (op_type, op_date, cert_no), each with the other party given."""
    base = DOCUMENTED["rows"][0]
    out = [dict(base, op_type=op, op_date=f"{day} 00:00:00", cert_no=cert, name_woman=other[0],
                cert_num_woman=other[1]) for op, day, cert in acts]
    return {"count": len(out), "rows": out}


def test_the_request_is_the_documented_shape():
    assert marriage_request(MarriageQuery(MAN, "张三", WOMAN, "李四")) == {"cert_num": MAN, "name": "张三"}


def test_documented_reply_is_read():
    got = parse(lower_keys(DOCUMENTED), ASKED)
    assert (got.status, got.spouse_name, got.spouse_id_number) == (MaritalStatus.MARRIED, "李四", WOMAN)
    [record] = got.records
    assert (record.act, record.op_type, record.registered_on, record.office_code, record.certificate_number) == (
        MarriageAct.MARRIAGE, "IA", "2018-05-20", "32010601", "J320106-2018-001234")
    assert (record.party_name, record.spouse_name, record.spouse_id_number) == ("张三", "李四", WOMAN)


@pytest.mark.parametrize("nation", ["156", "344", "446", "158"])
def test_nationality_codes_of_china_hong_kong_macao_taiwan_are_read(nation):
    reply = {"count": 1, "rows": [DOCUMENTED["rows"][0] | {"nation_woman": nation}]}
    assert parse(reply, ASKED).status == MaritalStatus.MARRIED


def test_mixed_case_names_trailing_spaces_and_numbers_for_codes():
    row_ = {k.upper(): v for k, v in DOCUMENTED["rows"][0].items()} | {"OP_TYPE": "IA ", "NATION_MAN": 156,
                                                                         "DEPT_CODE": "32010601 "}
    got = parse(lower_keys({"COUNT": "1", "ROWS": [row_]}), ASKED)
    assert got.status == MaritalStatus.MARRIED and got.records[0].office_code == "32010601"


def test_no_rows_is_no_record():
    got = parse({"count": 0, "rows": []}, ASKED)
    assert got.status == MaritalStatus.NO_RECORD and got.records == ()


def test_rows_in_any_order_give_the_latest_status():
    reply = rows(("IA", "2010-01-01", "J1"), ("IB", "2015-01-01", "L1"), ("IA", "2018-01-01", "J2"))
    reply["rows"].reverse()
    got = parse(reply, ASKED)
    assert got.status == MaritalStatus.MARRIED and [r.registered_on for r in got.records] == [
        "2010-01-01", "2015-01-01", "2018-01-01"]


@pytest.mark.parametrize("acts, status, spouse", [
    # a reissued divorce certificate after a later remarriage changes nothing
    ([("IA", "2010-01-01", "J1"), ("IB", "2015-01-01", "L1"), ("IA", "2018-01-01", "J2"), ("ICB", "2019-01-01", "BL1")],
     MaritalStatus.MARRIED, True),
    # only a reissue on record: it tells the status
    ([("ICA", "2012-01-01", "BJ1")], MaritalStatus.MARRIED, True),
    ([("IC", "2012-01-01", "BL1")], MaritalStatus.DIVORCED, False),
    ([("IC", "2012-01-01", "J320106-2012-000001")], MaritalStatus.MARRIED, True),
    ([("IA", "2012-01-01", "J1"), ("ID", "2012-03-01", "J1")], MaritalStatus.ANNULLED, False),
    # an unknown code older than the act that decides is kept and does not matter
    ([("IA1", "2009-01-01", "J0"), ("IA", "2012-01-01", "J1")], MaritalStatus.MARRIED, True),
])
def test_status_rules(acts, status, spouse):
    got = parse(rows(*acts), ASKED)
    assert got.status == status
    assert (got.spouse_id_number == WOMAN) is spouse


def test_an_unknown_op_type_is_kept_as_an_opaque_act():
    got = parse(rows(("INR", "2009-01-01", "J0"), ("IA", "2012-01-01", "J1")), ASKED)
    assert [(r.act, r.op_type) for r in got.records] == [(MarriageAct.OTHER, "INR"), (MarriageAct.MARRIAGE, "IA")]


@pytest.mark.parametrize("acts", [
    [("IA", "2012-01-01", "J1"), ("IA2", "2016-01-01", "J2")],  # after the marriage: might be anything
    [("IA", "2012-01-01", "J1"), ("INR", "2012-01-01", "J2")],  # the same day: order unknown
    [("INR", "2012-01-01", "J2")],  # nothing but the unknown act
])
def test_a_status_that_depends_on_an_unknown_op_type_is_left_to_a_person(acts):
    with pytest.raises(BadUpstream, match="does not know"):
        parse(rows(*acts), ASKED)


def test_a_generic_reissue_of_unknown_kind_is_not_guessed():
    with pytest.raises(BadUpstream, match="reissue"):
        parse(rows(("IC", "2012-01-01", "X110105-2010-000001")), ASKED)


def test_the_spouse_name_check_uses_the_shared_name_comparison():
    latin = rows(("IA", "2018-05-20", "J1"), other=("O'BRIEN·MARY", WOMAN))
    assert parse(latin, MarriageQuery(MAN, "张三", WOMAN, "o’brien･mary")).married_to_each_other
    assert not parse(latin, MarriageQuery(MAN, "张三", WOMAN, "O'BRIEN")).married_to_each_other
    assert not parse(latin, MarriageQuery(MAN, "张三", "110105199003071239", "O'BRIEN·MARY")
                     ).married_to_each_other


# ------------------------------------------------------------------ broken replies never give a status

def reply_with(data) -> bytes:
    return json.dumps({"head": {"status": "0200", "msg": "正常", "requestType": "MZ01"}, "data": data},
                      ensure_ascii=False).encode()


def changed(**fields) -> bytes:
    return reply_with({"count": 1, "rows": [DOCUMENTED["rows"][0] | fields]})


def without(key: str) -> bytes:
    row_ = dict(DOCUMENTED["rows"][0])
    del row_[key]
    return reply_with({"count": 1, "rows": [row_]})


BROKEN = [
    ("not JSON", b'{"head": {"status": "0200"', "not UTF-8 JSON"),
    ("HTML page", "<html><body><h1>系统维护中</h1></body></html>".encode(), "not UTF-8 JSON"),
    ("GBK instead of UTF-8", reply_with(DOCUMENTED).decode().encode("gbk"), "not UTF-8 JSON"),
    ("no head", json.dumps({"data": DOCUMENTED}).encode(), "no head status"),
    ("no data", json.dumps({"head": {"status": "0200"}}).encode(), "no data"),
    ("service error 9900", json.dumps({"head": {"status": "9900", "msg": "其他异常"}}).encode(), "9900"),
    ("bare array", reply_with(DOCUMENTED["rows"]), "not {count, rows}"),
    ("no count", reply_with({"rows": DOCUMENTED["rows"]}), "no count"),
    ("count disagrees", reply_with({"count": 2, "rows": DOCUMENTED["rows"]}), "count does not match"),
    ("row not an object", reply_with({"count": 1, "rows": ["IA"]}), "not an object"),
    ("missing op_date", without("op_date"), "op_date"),
    ("op_date YYYYMMDD (invented format)", changed(op_date="20180520"), "op_date"),
    ("op_date not a real date", changed(op_date="2018-02-30 00:00:00"), "op_date"),
    ("6-digit dept_code (invented format)", changed(dept_code="320106"), "dept_code"),
    ("three-letter nationality (invented format)", changed(nation_man="CHN"), "nation_man"),
    ("unknown op_type deciding the status", changed(op_type="IX"), "does not know"),
    ("row of someone else", changed(cert_num_man="110105199003071239"), "not asked about"),
]


@pytest.mark.parametrize("label, body, reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable_never_a_status(node_for, fake_upstream, label, body, reason):
    seen = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("X-Request-Id")))
        return web.Response(body=body, content_type="application/json")

    running = await node_for({"marriage": await fake_upstream(handle)})
    reply = await running.stub.QueryMarriage(pb.QueryMarriageRequest(
        context=ctx(request_id="req-marriage-1"), id_number=MAN, name="张三"))
    assert reply.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert reply.status == pb.MARITAL_STATUS_UNSPECIFIED and not reply.records
    assert reason in reply.provenance.unavailable_reason
    assert MAN not in reply.provenance.unavailable_reason and "张三" not in reply.provenance.unavailable_reason
    assert set(seen) == {("/mca/api/marriage/query", "req-marriage-1")}  # 9900 is retried, the rest not


async def test_the_fake_upstream_serves_a_good_reply_when_unbroken(node_for, fake_upstream):
    """Control for the broken-reply tests: the same fake, unbroken, gives the status."""
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=reply_with(DOCUMENTED), content_type="application/json")

    running = await node_for({"marriage": await fake_upstream(handle)})
    reply = await running.stub.QueryMarriage(pb.QueryMarriageRequest(context=ctx(), id_number=MAN, name="张三"))
    assert reply.status == pb.MARITAL_STATUS_MARRIED and reply.spouse_id_number == WOMAN
    assert [(r.act, r.op_type) for r in reply.records] == [(pb.MARRIAGE_ACT_MARRIAGE, "IA")]


async def test_connector_agrees_with_the_world_for_every_registered_person(marriage_mock, world, dept_secret):
    """Every person with registrations (both parties of every act), straight through the
    connector over a real socket: status and spouse as the world's latest IA/IB/ID says."""
    from connectors.base import CallInfo, ConnectorConfig
    from connectors.marriage import MarriageConnector

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
    assert len(marriage_mock.requests) == checked  # one call per person


async def test_a_seller_whose_status_hangs_on_an_unknown_op_type_is_left_to_a_person(node_for, fake_upstream,
                                                                                     departments, world):
    """The case check never reads an unknown registration act as married or unmarried: the
    marriage check is unavailable (须人工核验), the case incomplete, and no marriage finding."""
    seller, buyer = [p for p in world.persons if p.kind == "resident" and p.id_number not in world.deaths
                     and not world.acts_of(p.id_number) and p.sex == "1"][:2]

    async def handle(request: web.Request) -> web.Response:
        asked = json.loads(await request.read())["data"]
        acts = rows(("IA", "2012-01-01", "J1"), ("IA2", "2016-06-01", "J2"))
        for row_ in acts["rows"]:
            row_ |= {"cert_num_man": asked["cert_num"], "name_man": asked["name"]}
        return web.Response(body=reply_with(acts), content_type="application/json")

    urls = {name: mock.url for name, mock in departments.items()} | {"marriage": await fake_upstream(handle)}
    running = await node_for(urls)
    reply = await running.stub.CheckCase(pb.CheckCaseRequest(context=ctx(), registration_type="transfer", parties=[
        pb.CaseParty(role="seller", name=seller.name, id_number=seller.id_number),
        pb.CaseParty(role="buyer", name=buyer.name, id_number=buyer.id_number)]), timeout=15)
    checks = {c.check_id: c for c in reply.checks}
    assert checks["marriage:seller:0"].status == pb.CHECK_STATUS_UNAVAILABLE
    assert reply.status == pb.CASE_STATUS_INCOMPLETE and not reply.complete
    assert not {f.code for f in reply.findings} & {"SPOUSE_CONSENT_NEEDED", "MARRIAGE_NO_RECORD", "PARTY_MARRIED"}
    assert any("人工核验" in line for line in reply.recheck)
