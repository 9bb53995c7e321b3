"""LookupOrgan (中央编办 ZB01) end to end over real sockets; golden request and replies written
from INTERFACES.md §12.3 with made-up values; broken replies are SOURCE_UNAVAILABLE, never a verdict."""
from __future__ import annotations

import json
import random
import re

import pytest
from aiohttp import web

from connectors.organ.reply import parse
from connectors.organ.types import OrganQuery
from mocks.organ import OrganDepartment
from mocks.world import make_credit_code
from querynode.domain.model import OrganizationStatus
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx

CODE = make_credit_code(random.Random(16), "1", "2", "110105")  # made up, valid
DOCUMENTED = [  # §12.3: a bare array; 事业单位 fields, zt as text
    {"qlbs": "事业单位", "tyshxydm": CODE, "onemc": "某市第一实验中学", "twomc": "", "threemc": "", "qtmc": "",
     "sjrq": "2024-01-05", "fzr": "张三", "zt": "0", "zs": "某市某路1号", "jbdw": "某市教育局", "jfly": "财政补助",
     "kbzj": "947万元", "djgljg": "某市事业单位登记管理局", "zzhywfw": "实施初中教育", "yxqx_s": "2020-01-01",
     "yxqx_z": "2025-12-31", "ywlx": "0"},
]


def reply(data) -> bytes:
    return json.dumps({"head": {"status": "0200", "msg": "正常", "requestType": "ZB01"}, "data": data},
                      ensure_ascii=False).encode()


@pytest.fixture
async def register(start_mock) -> OrganDepartment:
    return await start_mock(OrganDepartment)


async def test_a_public_institution_is_found_with_its_record(node_for, register, samples):
    node = await node_for({"organ": register.url})
    sample = samples["organ"]["active"][0]
    got = await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(), credit_code=sample["credit_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.provenance.department == pb.DEPARTMENT_ORGAN
    [org] = got.organizations
    assert (org.name, org.org_type, org.status) == (sample["name"], "事业单位", pb.ORGANIZATION_STATUS_ACTIVE)
    assert register.requests == [{"name": "", "tyshxydm": sample["credit_code"]}]


async def test_the_request_is_the_documented_shape(node_for, fake_upstream, samples):
    seen = []

    async def handle(request):
        seen.append((request.path, json.loads(await request.read())))
        return web.Response(body=reply([]), content_type="application/json")
    node = await node_for({"organ": await fake_upstream(handle)})
    code = samples["organ"]["active"][0]["credit_code"]
    got = await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(), credit_code=code))
    assert got.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    [(path, body)] = seen
    assert body["data"] == {"name": "", "tyshxydm": code}
    assert body["head"]["requestType"] == "ZB01" and re.fullmatch(r"\d{20}", body["head"]["cxqqdh"])
    assert body["head"]["businessNumber"] == ctx().case_number


def test_documented_reply_is_read():
    [org] = parse(DOCUMENTED, OrganQuery(credit_code=CODE)).organizations
    assert (org.name, org.legal_representative, org.status, org.status_text) == (
        "某市第一实验中学", "张三", OrganizationStatus.ACTIVE, "正常")
    assert (org.domicile, org.registered_capital, org.issuing_office, org.scope) == (
        "某市某路1号", "947万元", "某市事业单位登记管理局", "实施初中教育")


@pytest.mark.parametrize("qlbs, zt, status", [
    ("事业单位", "2", OrganizationStatus.REVOKED), ("事业单位", "9", OrganizationStatus.CANCELLED),
    ("党群机关", "1", OrganizationStatus.CANCELLED), ("党群机关", 0, OrganizationStatus.ACTIVE)])
def test_status_codes_and_mixed_case_names(qlbs, zt, status):
    from connectors.base.ministry import lower_keys
    row = {k.upper(): v for k, v in DOCUMENTED[0].items()} | {"QLBS": qlbs, "ZT": zt, "JGDZ": "某路2号"}
    [org] = parse(lower_keys([row]), OrganQuery(credit_code=CODE)).organizations
    assert org.status == status and org.org_type == qlbs


BROKEN = [
    ("not JSON", b"<html>", "not UTF-8 JSON"),
    ("object instead of array", reply({"count": 1, "rows": DOCUMENTED}), "not an array"),
    ("unknown zt", reply([DOCUMENTED[0] | {"zt": "7"}]), "unknown zt"),
    ("frozen: not judged", reply([DOCUMENTED[0] | {"zt": "3"}]), "does not judge"),
    ("unknown qlbs", reply([DOCUMENTED[0] | {"qlbs": "企业"}]), "unknown qlbs"),
    ("another body", reply([DOCUMENTED[0] | {"tyshxydm": CODE[:-1] + ("0" if CODE[-1] != "0" else "1")}]), "does not match"),
    ("no data", json.dumps({"head": {"status": "0200"}}).encode(), "no data"),
    ("no head", reply([]).replace(b'"head"', b'"hd"'), "no head status"),
    ("service error 9900", json.dumps({"head": {"status": "9900", "msg": "其他异常"}}).encode(), "9900"),
    ("permission 0302", json.dumps({"head": {"status": "0302", "msg": "没有访问权限"}}).encode(), "0302"),
]


@pytest.mark.parametrize("label, body, reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable(node_for, fake_upstream, label, body, reason):
    async def handle(request):
        return web.Response(body=body, content_type="application/json")
    node = await node_for({"organ": await fake_upstream(handle)})
    got = await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(), credit_code=CODE))
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not got.organizations
    assert reason in got.provenance.unavailable_reason


async def test_bodies_in_a_state_not_judged_never_open_the_breaker(fake_upstream, tmp_path, dept_secret):
    """冻结 and 证书废止 are answers the node leaves to a person, not department failures: ten
    questions about a frozen 事业单位 must not stop the node from asking about another body."""
    from tests.conftest import make_settings, start_node

    async def handle(request):
        asked = (await request.json())["data"]["tyshxydm"]
        state = "3" if asked == CODE else "0"
        return web.Response(body=reply([DOCUMENTED[0] | {"tyshxydm": asked, "zt": state}]),
                            content_type="application/json")

    other = make_credit_code(random.Random(17), "1", "2", "110105")
    settings = make_settings(tmp_path, {"organ": await fake_upstream(handle)}, dept_secret,
                             breaker={"consecutive_failures": 2, "cool_down_seconds": 600})
    node, stop = await start_node(settings)
    try:
        for _ in range(10):
            got = await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(fresh=True), credit_code=CODE))
            assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
            assert "does not judge" in got.provenance.unavailable_reason
        got = await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(), credit_code=other))
        assert got.verdict == pb.LOOKUP_VERDICT_FOUND
    finally:
        await stop()
