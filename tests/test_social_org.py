"""LookupSocialOrganization (民政部 MZ02) end to end over real sockets; golden request and replies
written from INTERFACES.md §12.1/§12.2 with made-up values; broken replies are SOURCE_UNAVAILABLE."""
from __future__ import annotations

import json
import random
import re

import pytest
from aiohttp import web

from connectors.base.ministry import lower_keys
from connectors.social_org.reply import parse
from connectors.social_org.types import SocialOrgQuery
from mocks.social_org import SocialOrgDepartment
from mocks.world import make_credit_code
from querynode.domain.model import OrganizationStatus
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx

CODE = make_credit_code(random.Random(16), "5", "3", "110105")  # made up, valid: a 基金会
ROW = {"org_name": "某某公益基金会", "usc_code": CODE, "legal_name": "李四", "registered_capital": "800万元",
       "business_scope": "资助公益项目", "activity_range": "某市", "domicile_addres": "某市某路3号",
       "valid_from": "2021-06-01", "valid_to": "2099-05-31", "issue_certificate_dept": "某市民政局",
       "registration_date": "2021-06-01 00:00:00", "manager_dept": "某市民政局", "ifcharity": "1"}


def reply(data) -> bytes:
    return json.dumps({"head": {"status": "0200", "msg": "正常", "requestType": "MZ02"}, "data": data},
                      ensure_ascii=False).encode()


async def test_a_social_organisation_is_found(node_for, start_mock, samples):
    register = await start_mock(SocialOrgDepartment)
    node = await node_for({"social_org": register.url})
    sample = samples["social_org"]["active"][0]
    got = await node.stub.LookupSocialOrganization(
        pb.LookupSocialOrganizationRequest(context=ctx(), credit_code=sample["credit_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.provenance.department == pb.DEPARTMENT_SOCIAL_ORG
    [org] = got.organizations
    assert (org.name, org.status) == (sample["name"], pb.ORGANIZATION_STATUS_ACTIVE)
    assert org.org_type.startswith("社会团体")
    assert register.requests == [{"tyshxydm": sample["credit_code"], "name": "", "search_type": "10"}]


async def test_the_request_is_the_documented_shape(node_for, fake_upstream):
    seen = []

    async def handle(request):
        seen.append(json.loads(await request.read()))
        return web.Response(body=reply({"count": 0, "rows": []}), content_type="application/json")
    node = await node_for({"social_org": await fake_upstream(handle)})
    got = await node.stub.LookupSocialOrganization(pb.LookupSocialOrganizationRequest(context=ctx(), credit_code=CODE))
    assert got.verdict == pb.LOOKUP_VERDICT_NOT_FOUND
    [body] = seen
    assert body["data"] == {"tyshxydm": CODE, "name": "", "search_type": "10"}
    assert body["head"]["requestType"] == "MZ02" and re.fullmatch(r"\d{20}", body["head"]["cxqqdh"])


@pytest.mark.parametrize("spell", [str.lower, str.upper], ids=["lower (national platform)", "UPPER (Jiangsu UI)"])
def test_documented_reply_is_read_in_either_case(spell):
    data = lower_keys({"count": 1, "rows": [{spell(k): v for k, v in ROW.items()}]})
    [org] = parse(data, SocialOrgQuery(credit_code=CODE)).organizations
    assert (org.name, org.legal_representative, org.status, org.org_type) == (
        "某某公益基金会", "李四", OrganizationStatus.ACTIVE, "基金会（慈善组织）")
    assert (org.domicile, org.established_on, org.issuing_office) == ("某市某路3号", "2021-06-01", "某市民政局")


BROKEN = [
    ("count disagrees", reply({"count": 2, "rows": [ROW]}), "count and rows"),
    ("bare array", reply([ROW]), "not an object"),
    ("expired certificate: not judged", reply({"count": 1, "rows": [ROW | {"valid_to": "2001-01-01"}]}),
     "no certificate valid today"),
    ("no validity", reply({"count": 1, "rows": [ROW | {"valid_to": ""}]}), "no certificate valid today"),
    ("bad date", reply({"count": 1, "rows": [ROW | {"valid_to": "31/05/2099"}]}), "yyyy-MM-dd"),
    ("unknown ifcharity", reply({"count": 1, "rows": [ROW | {"ifcharity": "3"}]}), "ifcharity"),
    ("another organisation", reply({"count": 1, "rows": [ROW | {"org_name": "另一基金会", "usc_code": CODE[:-1] + (
        "0" if CODE[-1] != "0" else "1")}]}), "does not match"),
    ("rate limited 0402", json.dumps({"head": {"status": "0402"}}).encode(), "0402"),
    ("truncated", reply({"count": 1, "rows": [ROW]})[:40], "not UTF-8 JSON"),
]


@pytest.mark.parametrize("label, body, reason", BROKEN, ids=[b[0] for b in BROKEN])
async def test_broken_reply_is_source_unavailable(node_for, fake_upstream, label, body, reason):
    async def handle(request):
        return web.Response(body=body, content_type="application/json")
    node = await node_for({"social_org": await fake_upstream(handle)})
    got = await node.stub.LookupSocialOrganization(pb.LookupSocialOrganizationRequest(context=ctx(), credit_code=CODE))
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not got.organizations
    assert reason in got.provenance.unavailable_reason


async def test_a_code_of_another_authority_is_refused_not_asked(node_for, start_mock):
    import grpc
    register = await start_mock(SocialOrgDepartment)
    node = await node_for({"social_org": register.url})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await node.stub.LookupSocialOrganization(pb.LookupSocialOrganizationRequest(
            context=ctx(), credit_code=make_credit_code(random.Random(1), "9", "1", "110105")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and register.requests == []
