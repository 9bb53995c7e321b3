"""The whole node over each of the three relays (部级接口 gateway, provincial platform, national platform).

Every mock department that says which services it answers (`answers()`) is carried by the mock relays;
the node puts it over the relay under test where that relay carries its services, else over the demo's
choice (gateway, else provincial). Every case scenario (every registration type of plans.yaml, every
check kind) must then come out exactly as over the default path. The relays' own faults (token expiry
2002, secret expiry, rate limits 0401/0402) are met through the whole node.
"""
from __future__ import annotations

import json

import pytest
import pytest_asyncio

from connectors.base.contract import ConnectorConfig
from connectors.base.ministry import relay_from
from connectors.relay import GatewayRelay, Service
from connectors.relay.credentials import ensure_relay_credentials, relay_options
from querynode.core.plans import Plans
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, make_settings, running_departments, start_node
from tests.relay_support import settings_over, start_relays
from tests.relay_support import over_relay  # noqa: F401  (fixture)
from tests.test_case_scenarios import SCENARIOS, People, run, status_name

RELAYS = ("gateway", "provincial", "national")


def outcome(reply) -> tuple:
    """What a case check concluded: status, findings, and each check's status (provenance aside)."""
    return (status_name(reply), sorted(f.code for f in reply.findings),
            sorted((c.kind, c.role, c.party_index, pb.CheckStatus.Name(c.status)) for c in reply.checks))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mock_departments(world, dept_secret):
    async with running_departments(world, dept_secret) as started:
        yield started


@pytest.fixture(scope="module")
def cases(world):
    """Every scenario, built once: the same parties go over every path."""
    people = People(world)
    return {name: SCENARIOS[name](people) for name in sorted(SCENARIOS)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def default_outcomes(mock_departments, dept_secret, cases, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("default-path"),
                             {d: m.url for d, m in mock_departments.items()}, dept_secret)
    running, stop = await start_node(settings)
    try:
        return {name: outcome(await run(running, sc)) for name, sc in cases.items()}
    finally:
        await stop()


def test_the_scenarios_cover_every_registration_type(cases):
    assert {sc.registration_type for sc in cases.values()} == set(Plans.load().types)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("kind", RELAYS)
async def test_every_case_type_over_the_relay_as_over_the_default_path(
        kind, mock_departments, dept_secret, cases, default_outcomes, world, tmp_path_factory):
    keys = ensure_relay_credentials(tmp_path_factory.mktemp(f"keys-{kind}"))
    relays = await start_relays(mock_departments.values(), keys["bjjk.json"].parent)
    settings, chosen = settings_over(kind, tmp_path_factory.mktemp(f"over-{kind}"), mock_departments, relays,
                                     keys, dept_secret)
    running, stop = await start_node(settings)
    try:
        answering = {name for name, dept in mock_departments.items() if getattr(dept, "answers", dict)()}
        assert set(chosen) == answering  # every department whose mock answers goes over a relay
        got = {name: outcome(await run(running, sc)) for name, sc in cases.items()}
    finally:
        await stop()
        for relay in relays.values():
            await relay.stop()
    assert {n: o for n, o in got.items() if o != default_outcomes[n]} == {}
    if kind in chosen.values():  # the relay under test did carry the calls
        assert relays[kind].seen


# ---------------------------------------------------------------- who goes over which relay


async def test_each_department_goes_over_the_relay_chosen_where_it_carries_it(over_relay):
    _, _, chosen = await over_relay("national")
    # the national platform issues credentials for 民政 社会组织 and 殡葬 but has no 中编办 service
    assert chosen["social_org"] == "national" and chosen["cremation"] == "national"
    assert chosen["organ"] == "gateway"
    _, _, chosen = await over_relay("gateway")
    assert chosen["organ"] == chosen["social_org"] == "gateway" and chosen["cremation"] == "provincial"


def test_a_relay_without_the_service_stops_the_node(tmp_path):
    keys = ensure_relay_credentials(tmp_path / "keys")
    options = relay_options("national", keys, tmp_path)
    with pytest.raises(ValueError, match="no credential for the service organ_query"):
        relay_from(ConnectorConfig(base_url="https://relay.invalid", options=options), Service.ORGAN_QUERY)
    relay_from(ConnectorConfig(base_url="https://relay.invalid", options=options), Service.CREMATION_QUERY)
    with pytest.raises(ValueError, match="is not one of"):
        relay_from(ConnectorConfig(base_url="https://relay.invalid", options={"relay": "carrier-pigeon"}),
                   Service.ORGAN_QUERY)
    with pytest.raises(ValueError, match="relay provincial"):
        relay_from(ConnectorConfig(base_url="https://relay.invalid", options={
            **relay_options("provincial", keys, tmp_path), "provincial": {"region": "320100", "colour": "red"}}),
            Service.ORGAN_QUERY)


# ---------------------------------------------------------------- relay faults through the whole node


def bodies(world, first: str):
    return [o for o in world.organizations if o.credit_code[0] == first]


async def lookup_organ(node, org, by_name: bool = False):
    """By credit code, or by name: the same body asked twice without the node's cache answering."""
    key = {"name": org.name} if by_name else {"credit_code": org.credit_code}
    return await node.stub.LookupOrgan(pb.LookupOrganRequest(context=ctx(), **key))


async def lookup_social(node, org):
    return await node.stub.LookupSocialOrganization(
        pb.LookupSocialOrganizationRequest(context=ctx(), credit_code=org.credit_code))


async def test_provincial_token_expiry_2002_renews_the_token_and_answers(over_relay, world):
    node, relays, chosen = await over_relay("provincial")
    mock = relays["provincial"]
    assert chosen["organ"] == "provincial"
    organ = bodies(world, "1")[0]
    assert (await lookup_organ(node, organ)).verdict == pb.LOOKUP_VERDICT_FOUND
    mock.expire_tokens()
    got = await lookup_organ(node, organ, by_name=True)
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.organizations[0].credit_code == organ.credit_code
    assert mock.token_requests == 2  # one login, one renewal after the 2002
    assert len(mock.seen) == 3  # the first lookup, the one answered 2002, its resend


async def test_national_secret_expiry_renews_the_secret_and_answers(over_relay, world):
    node, relays, chosen = await over_relay("national")
    mock = relays["national"]
    assert chosen["social_org"] == "national"
    first, second = bodies(world, "5")[:2]
    assert (await lookup_social(node, first)).verdict == pb.LOOKUP_VERDICT_FOUND
    mock.expire_secrets()
    got = await lookup_social(node, second)
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.organizations[0].name == second.name
    assert mock.secret_requests == 2
    assert len(mock.seen) == 3  # the first lookup, the one refused for its secret, its resend


async def test_gateway_rate_limits_are_retried_within_the_deadline(over_relay, world):
    node, relays, _ = await over_relay("gateway")
    mock = relays["gateway"]
    organ = bodies(world, "1")[0]
    mock.next_statuses.extend(["0401", "0402"])
    got = await lookup_organ(node, organ)
    assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.organizations[0].name == organ.name
    assert len(mock.seen) == 3
    mock.next_statuses.extend(["0402", "0401", "0402", "0401"])
    got = await lookup_organ(node, organ, by_name=True)
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE  # never NOT_FOUND
    assert got.provenance.unavailable_reason
    assert len(mock.seen) == 6  # three attempts, then the node stops asking


# ---------------------------------------------------------------- the demo (make run)


def free_port_block(size: int = 23) -> int:
    """A base port whose next `size` ports are free now."""
    import random
    import socket

    for _ in range(50):
        base = random.randrange(20000, 60000 - size)
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free block of ports")


async def test_the_demo_runs_over_the_gateway_by_default(tmp_path, world):
    """What `make run` does: relay keys made on first run, mock relays fronting the mock departments,
    and every department whose mock answers over a relay configured over one: the gateway where it
    carries the service, else the provincial platform."""
    from querynode import cli

    setup = cli.prepare_demo(tmp_path / "demo")
    assert {p.name for p in setup.relay_keys.values()} == {"bjjk-private-key.pem", "bjjk.json", "sjpt.json", "gjpt.json"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in setup.relay_keys.values())
    mocks = cli.start_demo_mocks(setup, base_port=free_port_block())
    try:
        chosen = cli.demo_over_relays(setup)
        assert chosen["organ"] == chosen["social_org"] == "gateway" and chosen["cremation"] == "provincial"
        for name, kind in chosen.items():
            module, _, cls = setup.settings.departments[name].connector.partition(":")
            asks = getattr(__import__(module, fromlist=[cls]), cls).asks()
            assert kind == ("gateway" if set(asks) <= set(GatewayRelay.codes) else "provincial"), name
            assert setup.settings.departments[name].url.startswith("https://")
        running, stop = await start_node(setup.settings)
        try:
            organ = bodies(world, "1")[0]
            got = await lookup_organ(running, organ)
            assert got.verdict == pb.LOOKUP_VERDICT_FOUND and got.organizations[0].name == organ.name
            death = next(iter(world.deaths.values()))
            got = await running.stub.QueryCremation(pb.QueryCremationRequest(
                context=ctx(), id_number=death.person.id_number, name=death.person.name))
            assert got.verdict == pb.LOOKUP_VERDICT_FOUND
        finally:
            await stop()
    finally:
        mocks.terminate()
        mocks.wait(timeout=10)


# ---------------------------------------------------------------- README: the codes a centre asks for

SERVICE_NAMES = {
    Service.IDENTITY_CHECK: "公安部 身份核查", Service.POPULATION_BASEINFO: "公安部 人口库 基准信息",
    Service.MARRIAGE_QUERY: "民政部 婚姻登记信息", Service.SOCIAL_ORG_QUERY: "民政部 社会组织",
    Service.PLACE_NAME_QUERY: "民政部 地名", Service.CREMATION_QUERY: "民政部 殡葬 火化信息",
    Service.FINANCIAL_LICENSE_QUERY: "银保监会 金融许可证", Service.ORGAN_QUERY: "中编办 事业单位/机关群团",
    Service.COURT_APPLY: "最高法 司法判决 查询申请", Service.COURT_FEEDBACK: "最高法 司法判决 结果反馈",
    Service.DEATH_CERTIFICATE: "卫健委 死亡医学证明", Service.ENTERPRISE_QUERY: "市场监管总局 企业查询",
    Service.ENTERPRISE_CHECK: "市场监管总局 企业验证",
}


def relay_codes_table() -> str:
    from connectors.relay import ProvincialRelay
    from connectors.relay.credentials import NATIONAL_SERVICES

    def code(value: str | None) -> str:
        return f"`{value}`" if value else "—"

    return "".join(
        f"| {SERVICE_NAMES[s]} | {code(GatewayRelay.codes.get(s))} | {code(ProvincialRelay.codes.get(s))} | "
        f"{code(s.value if s in NATIONAL_SERVICES else None)} |\n" for s in Service)


def test_the_readme_lists_the_codes_the_relays_carry():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- relay-codes -->\n", 1)[1].split("<!-- /relay-codes -->", 1)[0]
    assert table.splitlines()[2:] == relay_codes_table().splitlines()


async def test_a_department_behind_a_relay_meets_its_own_faults(over_relay, departments, world):
    """`python -m mocks --fault organ=...` and /_admin/faults still work when the organ is reached over a relay."""
    from querynode.fault_plan import FaultPlan

    node, relays, chosen = await over_relay("gateway")
    assert chosen["organ"] == "gateway"
    departments["organ"].faults.set(FaultPlan(maintenance_seconds=60))
    got = await lookup_organ(node, bodies(world, "1")[0])
    assert got.verdict == pb.LOOKUP_VERDICT_SOURCE_UNAVAILABLE
    assert departments["organ"].stats["requests"] >= 1  # counted at the department, as if it had reached it
    assert not relays["gateway"].seen  # answered by the fault, before the relay served it
    departments["organ"].faults.set(FaultPlan())


def test_a_connector_asking_two_services_needs_a_relay_carrying_both(tmp_path):
    from connectors.base.ministry import MinistryConnector

    class Both(MinistryConnector):  # as 市场监管: query and verify
        department = "credit_code"
        service = Service.ENTERPRISE_QUERY
        request_types = {Service.ENTERPRISE_CHECK: "zw_samr_enterprise_check"}

        async def lookup(self, query, call):
            raise NotImplementedError

    keys = ensure_relay_credentials(tmp_path / "keys")
    assert Both.asks() == (Service.ENTERPRISE_QUERY, Service.ENTERPRISE_CHECK)
    Both(ConnectorConfig(base_url="https://relay.invalid", options=relay_options("provincial", keys, tmp_path)))
    issued = {k: v for k, v in json.loads(keys["gjpt.json"].read_text()).items() if k != "enterprise_check"}
    with pytest.raises(ValueError, match="enterprise_check"):
        Both(ConnectorConfig(base_url="https://relay.invalid", options={
            "relay": "national", "national": {"credentials": issued}}))


def test_no_department_port_is_a_mock_relay_port():
    from mocks.__main__ import RELAY_PORT_OFFSET
    from mocks.departments import DEPARTMENTS
    from querynode.core.operations import registry

    relay_ports = {18000 + RELAY_PORT_OFFSET + n for n in range(3)}
    assert not relay_ports & {d.default_port for d in registry().departments.values()}
    assert not {RELAY_PORT_OFFSET + n for n in range(3)} & {offset for offset, _, _ in DEPARTMENTS}
