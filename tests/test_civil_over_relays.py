"""民政 婚姻 (MZ01) and 卫健委 死亡医学证明 carried by each relay that carries them, against the
mock departments' answers (keyed by the provincial cxywlb code): the business payload each relay
takes is the documented one, and the reply comes back to the same result."""
from __future__ import annotations

import pytest

from connectors.base import ConnectorConfig
from connectors.death.client import DeathConnector
from connectors.marriage.client import MarriageConnector
from connectors.relay import Service
from mocks.death import DeathDepartment
from mocks.marriage import MarriageDepartment
from querynode.domain.model import DeathQuery, MaritalStatus, MarriageQuery
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, start_node
from tests.relay_support import over_gateway
from tests.relay_support import call, gateway, national, national_credentials, provincial, relay_keys  # noqa: F401


def over(connector_type, relay):
    connector = connector_type(ConnectorConfig("http://127.0.0.1:9"))
    connector.relay = relay
    return connector


async def test_marriage_over_the_gateway_through_the_node(gateway, relay_keys, world, samples, tmp_path,  # noqa: F811
                                                          dept_secret):
    mock, _ = gateway
    mock.handlers["MZ01"] = MarriageDepartment(world, {}).answers()["civil_marriage_query"]
    settings = make_settings(tmp_path, {"marriage": mock.url}, dept_secret)
    over_gateway(settings, "marriage", relay_keys, tmp_path)
    running, stop = await start_node(settings)
    try:
        person = samples["marriage"]["married"][0]
        got = await running.stub.QueryMarriage(pb.QueryMarriageRequest(
            context=ctx(), id_number=person["id_number"], name=person["name"]))
    finally:
        await stop()
    assert got.status == pb.MARITAL_STATUS_MARRIED and got.spouse_id_number == person["spouse_id_number"]
    [seen] = mock.seen
    assert seen["head"]["requestType"] == "MZ01"
    assert seen["payload"] == {"cert_num": person["id_number"], "name": person["name"]}


@pytest.mark.parametrize("mixed_case", [False, True])
async def test_marriage_over_the_provincial_platform(provincial, world, samples, mixed_case):  # noqa: F811
    mock, relay = provincial
    mock.mixed_case = mixed_case
    mock.handlers["civil_marriage_query"] = MarriageDepartment(world, {}).answers()["civil_marriage_query"]
    person = samples["marriage"]["divorced"][0]
    connector = over(MarriageConnector, relay)
    got = await connector.lookup(MarriageQuery(person["id_number"], person["name"]), call())
    assert got.status == MaritalStatus.DIVORCED
    assert [s["data"] for s in mock.seen] == [
        {"cxywlb": "civil_marriage_query", "cxywcs": [{"cert_num": person["id_number"], "name": person["name"]}]}]


@pytest.mark.parametrize("mixed_case", [False, True])
async def test_death_over_the_provincial_platform(provincial, world, samples, mixed_case):  # noqa: F811
    mock, relay = provincial
    mock.mixed_case = mixed_case
    mock.handlers["zw_nhcprc_death-cert"] = DeathDepartment(world, {}).answers()["zw_nhcprc_death-cert"]
    dead, living = samples["death"]["deceased"][0], samples["death"]["living"][0]
    connector = over(DeathConnector, relay)
    got = await connector.lookup(DeathQuery(dead["id_number"], dead["name"]), call())
    assert got.record is not None and got.record.died_on == dead["died_on"]
    assert (await connector.lookup(DeathQuery(living["id_number"], living["name"]), call())).record is None
    assert mock.seen[0]["data"] == {"cxywlb": "zw_nhcprc_death-cert",
                                    "cxywcs": [{"xm": dead["name"], "sfzh": dead["id_number"]}]}


@pytest.mark.parametrize("quirk", ["", "trailing_space", "html_escaped", "duplicate"])
async def test_death_over_the_national_platform_soap(national, relay_keys, world, samples, quirk):  # noqa: F811
    mock, relay = await national()
    department = DeathDepartment(world, {})
    if quirk:
        setattr(department, quirk, True)
    sid = national_credentials(relay_keys)[Service.DEATH_CERTIFICATE].sid
    mock.handlers[sid] = department.answers()["zw_nhcprc_death-cert"]
    dead = samples["death"]["deceased"][0]
    connector = over(DeathConnector, relay)
    got = await connector.lookup(DeathQuery(dead["id_number"], dead["name"]), call())
    assert got.record is not None and got.record.died_on == dead["died_on"]
    [seen] = mock.seen
    assert seen["operation"] == "getSwyxzmInfo"
    assert seen["payload"].startswith('<MDEML templateVersion="1.0">')
    assert f"<GMSFZH>{dead['id_number']}</GMSFZH><XM>{dead['name']}</XM>" in seen["payload"]
