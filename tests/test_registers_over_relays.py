"""民政部 地名 (MZ03), 银保监会 金融许可证 (YB01) and 市场监管总局 企业 (query and verify) carried by the
real relays: the first two over the 部级接口 gateway through the whole node, the 市场监管 services
(not in the gateway) over the provincial platform (`cxywcs` array, `data.cxjg`, success 0000 / 0)."""
from __future__ import annotations

import pytest

from connectors.base.ministry import lower_keys
from connectors.credit_code.client import request as enterprise_request
from connectors.credit_code.reply import parse, parse_check
from connectors.credit_code.types import CheckOutcome, EnterpriseCheckQuery
from connectors.relay import Service
from mocks.credit_code import CreditCodeDepartment
from mocks.financial_license import FinancialLicenseDepartment
from mocks.place_name import PlaceNameDepartment
from querynode.domain.model import OrganizationQuery, OrganizationStatus
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node
from tests.relay_support import call, gateway, over_gateway, provincial, relay_keys  # noqa: F401  (fixtures)


@pytest.fixture
async def node(gateway, relay_keys, world, tmp_path, dept_secret):  # noqa: F811
    mock, _ = gateway
    mock.handlers.update({"MZ03": PlaceNameDepartment(world, {}).answer,
                          "YB01": FinancialLicenseDepartment(world, {}).answer})
    settings = make_settings(tmp_path, {"place_name": mock.url, "financial_license": mock.url}, dept_secret)
    for dept in ("place_name", "financial_license"):
        over_gateway(settings, dept, relay_keys, tmp_path)
    running, stop = await start_node(settings)
    yield running
    await stop()


async def test_place_names_and_licences_answer_over_the_gateway(node, gateway, samples):  # noqa: F811
    mock, _ = gateway
    place, bank = samples["place_name"]["renamed"][0], samples["financial_license"]["licensed_bank"][0]
    got = await node.stub.QueryPlaceNames(pb.QueryPlaceNamesRequest(context=ctx(), name=place["old_name"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and [p.code for p in got.places] == [place["code"]]
    got = await node.stub.QueryFinancialLicense(pb.QueryFinancialLicenseRequest(context=ctx(),
                                                                                license_code=bank["license_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.licenses[0].valid
    assert [(s["head"]["requestType"], s["payload"]) for s in mock.seen] == [
        ("MZ03", {"place_code": "", "standard_name": place["old_name"]}),
        ("YB01", {"typeId": "01", "certCode": bank["license_code"]})]


async def test_a_withdrawn_licence_over_the_gateway_is_left_to_a_person(node, samples):
    withdrawn = samples["financial_license"]["withdrawn"][0]
    got = await node.stub.QueryFinancialLicense(pb.QueryFinancialLicenseRequest(
        context=ctx(), license_code=withdrawn["license_code"]))
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE and not got.licenses


async def test_enterprise_query_and_verify_over_the_provincial_platform(provincial, world, samples):  # noqa: F811
    mock, relay = provincial
    register = CreditCodeDepartment(world, {})
    answers = register.answers()
    mock.handlers.update({code: (lambda items, answer=answers[code]: answer(items[0])) for code in answers})
    revoked = samples["credit_code"]["revoked"][0]
    reply = await relay.send(Service.ENTERPRISE_QUERY, enterprise_request(revoked["credit_code"], None), call())
    [org] = parse(lower_keys(reply.payload), OrganizationQuery(credit_code=revoked["credit_code"])).organizations
    assert (org.name, org.status) == (revoked["name"], OrganizationStatus.REVOKED)
    query = EnterpriseCheckQuery(credit_code=revoked["credit_code"], name=revoked["name"])
    reply = await relay.send(Service.ENTERPRISE_CHECK, enterprise_request(query.credit_code, query.name), call())
    assert parse_check(lower_keys(reply.payload), query).outcome == CheckOutcome.MATCH
