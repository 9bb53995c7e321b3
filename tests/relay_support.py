"""Fixtures the relay tests share: key material made by `ensure_relay_credentials`, each mock relay on
an ephemeral port, a relay client configured from the same files, and a whole node whose departments
go over a chosen relay (`over_relay`)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from connectors.base.contract import CallInfo
from connectors.relay import (
    GatewayConfig,
    GatewayRelay,
    NationalConfig,
    NationalRelay,
    ProvincialConfig,
    ProvincialRelay,
    Service,
    ServiceCredential,
)
from connectors.relay.credentials import ensure_relay_credentials
from mocks.relays import manifest, relays_over
from mocks.relays.common import MockRelay
from mocks.relays.gateway import MockGateway
from mocks.relays.national import MockNational
from mocks.relays.provincial import MockProvincial
from querynode.cli import DEMO_RELAYS, over_relays
from querynode.config import Settings
from tests.conftest import make_settings, start_node

REGION = "340100"
CASE_NUMBER = "2024010500012"


def call(case_number: str = CASE_NUMBER, timeout: float = 10.0) -> CallInfo:
    return CallInfo(request_id="req-1", case_number=case_number, operator_id="clerk-7", timeout=timeout)


def over_gateway(settings, dept: str, relay_keys: dict, tmp_path) -> None:
    """Send department `dept` of `settings` over the 部级接口 gateway with the test credentials."""
    settings.departments[dept].options.update({"relay": "gateway", "gateway": {
        "credentials_file": str(relay_keys["paths"]["bjjk.json"]), "dept_name": "某市不动产登记局",
        "region": REGION, "serial_file": str(tmp_path / f"serial-{dept}")}})


@pytest.fixture
def relay_keys(tmp_path) -> dict:
    paths = ensure_relay_credentials(tmp_path / "relay-keys")
    loaded = {name: json.loads(path.read_text()) for name, path in paths.items() if name.endswith(".json")}
    return {"paths": paths, **loaded}


@pytest.fixture
async def gateway(tmp_path, relay_keys) -> AsyncIterator[tuple[MockGateway, Callable[..., GatewayRelay]]]:
    """(mock gateway, make_relay(**overrides)); every relay made is closed at the end."""
    mock = MockGateway(relay_keys["paths"]["bjjk-private-key.pem"].read_bytes(), relay_keys["bjjk.json"]["user_id"])
    await mock.start()
    relays: list[GatewayRelay] = []

    def make(**overrides) -> GatewayRelay:
        settings = {"base_url": mock.url, "dept_name": "某市不动产登记局", "region": REGION,
                    "serial_file": str(tmp_path / "serials" / "bjjk"), **relay_keys["bjjk.json"], **overrides}
        relays.append(GatewayRelay(GatewayConfig(**settings)))
        return relays[-1]

    yield mock, make
    for relay in relays:
        await relay.close()
    await mock.stop()


@pytest.fixture
async def provincial(tmp_path, relay_keys) -> AsyncIterator[tuple[MockProvincial, ProvincialRelay]]:
    login = relay_keys["sjpt.json"]
    mock = MockProvincial(login["username"], login["password"])
    await mock.start()
    relay = ProvincialRelay(ProvincialConfig(base_url=mock.url, region="320100", dept_name="某市不动产登记中心",
                                             client_ip="10.0.0.8", serial_file=str(tmp_path / "serials" / "sjpt"),
                                             **login))
    yield mock, relay
    await relay.close()
    await mock.stop()


def national_credentials(relay_keys) -> dict[Service, ServiceCredential]:
    return {Service(name): ServiceCredential(**value) for name, value in relay_keys["gjpt.json"].items()}


@pytest.fixture
async def national(relay_keys) -> AsyncIterator[Callable]:
    """`await national(sign_variant=..., mock_variant=..., **mock_options)` -> (mock, relay)."""
    started: list = []

    async def start(sign_variant: str = "hmac", mock_variant: str | None = None, prefix: str = "gjgxjhpt",
                    **mock_options) -> tuple[MockNational, NationalRelay]:
        credentials = national_credentials(relay_keys)
        mock = MockNational({c.sid: {"rid": c.rid, "appkey": c.appkey, "username": c.username, "password": c.password}
                             for c in credentials.values()},
                            sign_variant=mock_variant or sign_variant, prefix=prefix, **mock_options)
        await mock.start()
        relay = NationalRelay(NationalConfig(base_url=mock.url, credentials=credentials,
                                             sign_variant=sign_variant, prefix=prefix))
        started.append((mock, relay))
        return mock, relay

    yield start
    for mock, relay in started:
        await relay.close()
        await mock.stop()


def answering(body: bytes | str, status: int = 200, content_type: str = "application/json"):
    """A fake-upstream handler that always answers `body`."""
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, status=status, content_type=content_type)
    return handler


# --- the whole node over the relays


async def start_relays(departments, keys_folder) -> dict[str, MockRelay]:
    """The three mock relays (on ephemeral ports) carrying whatever the mock departments answer."""
    relays = relays_over(list(departments), Path(keys_folder))
    for relay in relays.values():
        await relay.start()
    return relays


def settings_over(kind: str, data_dir, departments: dict, relays: dict[str, MockRelay], keys: dict[str, Path],
                  secret: str) -> tuple[Settings, dict[str, str]]:
    """Settings with every department the mock relays carry over relay `kind` where `kind` carries its
    services, else over the demo's choice (the gateway, else the provincial platform); departments
    whose mock answers over no relay keep the direct path. Returns (settings, department -> relay)."""
    settings = make_settings(data_dir, {name: mock.url for name, mock in departments.items()}, secret)
    chosen = over_relays(settings, manifest(list(departments.values()), relays), keys,
                         preference=(kind, *(k for k in DEMO_RELAYS if k != kind)))
    return settings, chosen


@pytest.fixture
async def over_relay(departments, tmp_path, dept_secret):
    """`node, relays, chosen = await over_relay("provincial")`: a node with every mock department the
    relays carry going over that relay (see settings_over), the mock relays, and who goes over which."""
    keys = ensure_relay_credentials(tmp_path / "relay-keys")
    started: list = []

    async def start(kind: str):
        relays = await start_relays(departments.values(), keys["bjjk.json"].parent)
        data_dir = tmp_path / f"node-{kind}-{len(started)}"
        data_dir.mkdir()
        settings, chosen = settings_over(kind, data_dir, departments, relays, keys, dept_secret)
        running, stop = await start_node(settings)
        started.append((relays, stop))
        return running, relays, chosen

    yield start
    for relays, stop in reversed(started):
        await stop()
        for relay in relays.values():
            await relay.stop()
