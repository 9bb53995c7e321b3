"""The new ministry services carried over the 部级接口 gateway, chosen per department by
configuration: the mock gateway forwards ZB01 and MZ02 to the mock departments' answers. A relay
that does not carry a service (殡葬 has no gateway code) stops the node at start-up."""
from __future__ import annotations

import pytest

from mocks.organ import OrganDepartment
from mocks.social_org import SocialOrgDepartment
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node
from tests.relay_support import gateway, over_gateway, relay_keys  # noqa: F401  (fixtures)


@pytest.fixture
async def node(gateway, relay_keys, world, tmp_path, dept_secret):  # noqa: F811
    mock, _ = gateway
    mock.handlers.update({"ZB01": OrganDepartment(world, {}).answer, "MZ02": SocialOrgDepartment(world, {}).answer})
    settings = make_settings(tmp_path, {"organ": mock.url, "social_org": mock.url}, dept_secret)
    for dept in ("organ", "social_org"):
        over_gateway(settings, dept, relay_keys, tmp_path)
    running, stop = await start_node(settings)
    yield running
    await stop()


async def test_organ_and_social_org_answer_over_the_gateway(node, gateway, samples):  # noqa: F811
    mock, _ = gateway
    organ, social = samples["organ"]["active"][0], samples["social_org"]["active"][0]
    got = await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(), credit_code=organ["credit_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.organizations[0].name == organ["name"]
    got = await node.stub.LookupSocialOrganization(
        pb.LookupSocialOrganizationRequest(context=ctx(), credit_code=social["credit_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.organizations[0].name == social["name"]
    assert [(s["head"]["requestType"], s["payload"]) for s in mock.seen] == [
        ("ZB01", {"name": "", "tyshxydm": organ["credit_code"]}),
        ("MZ02", {"tyshxydm": social["credit_code"], "name": "", "search_type": "10"})]
    assert all(s["head"]["businessNumber"] == ctx().case_number for s in mock.seen)


async def test_permission_refused_by_the_gateway_is_source_unavailable(node, gateway, samples):  # noqa: F811
    mock, _ = gateway
    mock.next_statuses.append("0302")
    got = await node.stub.LookupOrgan(pb.LookupOrganRequest(
        context=ctx(), credit_code=samples["organ"]["active"][0]["credit_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and "0302" in got.provenance.unavailable_reason
    assert len(mock.seen) == 1  # never retried


async def test_a_service_the_gateway_does_not_carry_stops_the_node(gateway, relay_keys, tmp_path, dept_secret):  # noqa: F811
    mock, _ = gateway
    settings = make_settings(tmp_path, {"cremation": mock.url}, dept_secret)
    over_gateway(settings, "cremation", relay_keys, tmp_path)
    with pytest.raises(ValueError, match="does not carry"):
        await start_node(settings)
