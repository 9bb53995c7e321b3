"""Shared fixtures: real mock departments and a real node, on ephemeral ports."""
from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from aiohttp import web

from mocks.identity import IdentityDepartment
from mocks.world import build as build_world
from mocks.samples import build as build_samples
from querynode.api.grpc.servicer import start_grpc_server
from querynode.api.http.app import create_app
from querynode.core.operations import registry
from querynode.config import DepartmentSettings, Settings
from querynode.node import Node
from querynode.security.accounts import AccountStore, accounts_path
from querynode.security.audit_store import ChainKey, PostgresAuditStore, SqliteAuditStore, Witness
from querynode.security.field_crypto import cipher_for
from querynode.v1 import querynode_pb2 as pb
from querynode.v1 import querynode_pb2_grpc

APP_ID = "querynode-test"


PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# The node key of audit stores built directly in tests (and of the `querynode audit` commands
# that check them): the chain's MAC key is derived from it.
TEST_NODE_KEY = secrets.token_hex(32)
AUDIT_KEY = ChainKey(bytes.fromhex(TEST_NODE_KEY))


def sqlite_audit(path, **kwargs) -> SqliteAuditStore:
    """A SQLite audit store keyed with TEST_NODE_KEY, its witness beside it (the default name)."""
    from pathlib import Path

    return SqliteAuditStore(path, AUDIT_KEY, witness=Witness(Path(path).parent / "audit-witness.jsonl", AUDIT_KEY),
                            **kwargs)


def pg_audit(table: str, witness_dir, dsn: str = PG_DSN, **kwargs) -> PostgresAuditStore:
    """A PostgreSQL audit store keyed with TEST_NODE_KEY, its witness in witness_dir."""
    return PostgresAuditStore(dsn, table, key=AUDIT_KEY, witness=Witness(witness_dir / "audit-witness.jsonl", AUDIT_KEY),
                              **kwargs)


def pg_cli_env(table: str, witness_dir) -> dict[str, str]:
    """The environment for `querynode audit ...` on a pg_audit store."""
    return {"QUERYNODE_AUDIT__BACKEND": "postgres", "QUERYNODE_AUDIT__POSTGRES_DSN": PG_DSN,
            "QUERYNODE_AUDIT__POSTGRES_TABLE": table, "QUERYNODE_NODE_KEY": TEST_NODE_KEY,
            "QUERYNODE_DATA_DIR": str(witness_dir)}


@pytest.fixture
async def pg_table():
    """A fresh audit table name in the real PostgreSQL (no skip: the suite demands the service);
    the table, its purge anchors and its trigger function are dropped afterwards."""
    import asyncpg

    table = f"audit_test_{secrets.token_hex(6)}"
    yield table
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_anchor CASCADE; "
                           f"DROP FUNCTION IF EXISTS {table}_append_only()")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def world():
    return build_world()


@pytest.fixture(scope="session")
def people(world):
    return world.persons


@pytest.fixture(scope="session")
def samples(world):
    return build_samples(world)


@pytest.fixture(scope="session")
def dept_secret() -> str:
    return secrets.token_hex(32)


@pytest.fixture
async def start_mock(world, dept_secret):
    """Start any mock department class over the shared world: `await start_mock(CourtDepartment)`."""
    started = []

    async def start(cls, **kwargs):
        dept = cls(world, {APP_ID: dept_secret}, **kwargs)
        await dept.start()
        started.append(dept)
        return dept

    yield start
    for dept in started:
        await dept.stop()


@pytest.fixture
async def identity_mock(start_mock) -> IdentityDepartment:
    return await start_mock(IdentityDepartment)


@pytest.fixture
async def person_departments(start_mock, identity_mock) -> dict[str, str]:
    """URLs of the departments every signing person is checked against (identity, death and
    its second source cremation, marriage): the least a case check needs to come out complete."""
    from mocks.cremation import CremationDepartment
    from mocks.death import DeathDepartment
    from mocks.marriage import MarriageDepartment

    return {"identity": identity_mock.url, "death": (await start_mock(DeathDepartment)).url,
            "cremation": (await start_mock(CremationDepartment)).url,
            "marriage": (await start_mock(MarriageDepartment)).url}


def make_settings(tmp_path, urls: dict[str, str], secret: str, *, breaker: dict | None = None,
                  **overrides) -> Settings:
    """Settings for a test node; `breaker` applies to every department given."""
    departments = {
        dept: DepartmentSettings(url=url, connector=registry().department(dept).connector,
                                 app_id=APP_ID, secret=secret, allow_plain_http=url.startswith("http://"),
                                 **({"breaker": breaker} if breaker else {}))
        for dept, url in urls.items()
    }
    return Settings(data_dir=tmp_path, node_key=secrets.token_hex(32), departments=departments,
                    default_deadline_seconds=2.0, **overrides)


@dataclass
class RunningNode:
    node: Node
    grpc_target: str
    http_url: str
    stub: querynode_pb2_grpc.QueryNodeStub


async def start_node(settings: Settings) -> tuple[RunningNode, callable]:
    node = await Node.start(settings)
    server, port = await start_grpc_server(node.hub, "127.0.0.1", 0, anonymous_caller="test-registry",
                                           cases=node.cases, audit_watch=node.audit_watch)
    runner = web.AppRunner(create_app(node.hub, anonymous_caller="test-registry", cases=node.cases,
                                        accounts=AccountStore(accounts_path(settings.data_dir), cipher_for(settings))),
                            access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    http_port = runner.addresses[0][1]
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    running = RunningNode(node, f"127.0.0.1:{port}", f"http://127.0.0.1:{http_port}",
                          querynode_pb2_grpc.QueryNodeStub(channel))

    async def stop() -> None:
        await channel.close()
        await server.stop(grace=None)
        await runner.cleanup()
        await node.close()

    return running, stop


@pytest.fixture
async def node(tmp_path, identity_mock, dept_secret) -> AsyncIterator[RunningNode]:
    running, stop = await start_node(make_settings(tmp_path, {"identity": identity_mock.url}, dept_secret))
    yield running
    await stop()


def ctx(**overrides) -> pb.RequestContext:
    fields = {"case_number": "2026-110105-000123", "operator_id": "clerk-007", "purpose": "不动产转移登记"}
    fields.update(overrides)
    return pb.RequestContext(**fields)


def json_ctx(**overrides) -> dict:
    fields = {"case_number": "2026-110105-000123", "operator_id": "clerk-007", "purpose": "不动产转移登记"}
    fields.update(overrides)
    return fields


@pytest.fixture
async def node_for(tmp_path, dept_secret):
    """Start a node wired to the given department URLs: `await node_for({"court": url})`."""
    stops = []

    async def start(urls: dict[str, str], **overrides) -> RunningNode:
        sub = tmp_path / f"node{len(stops)}"
        sub.mkdir()
        running, stop = await start_node(make_settings(sub, urls, dept_secret, **overrides))
        stops.append(stop)
        return running

    yield start
    for stop in reversed(stops):
        await stop()


@pytest.fixture
async def fake_upstream():
    """A bare HTTP server answering every request with `handler`; for broken-department tests.
    `url = await fake_upstream(handler)`; handler(request) -> web.StreamResponse."""
    runners = []

    async def start(handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_departments(world, dept_secret) -> AsyncIterator[dict]:
    """Every declared mock department, started on a free port, keyed by department name."""
    from mocks.departments import build_departments

    started = {}
    try:
        for _, dept in build_departments({APP_ID: dept_secret}, world=world):
            await dept.start()
            started[dept.name] = dept
        yield started
    finally:
        for dept in started.values():
            await dept.stop()


@pytest.fixture
async def departments(world, dept_secret):
    """Every declared mock department, started on a free port, keyed by department name."""
    async with running_departments(world, dept_secret) as started:
        yield started


@pytest.fixture
async def full_node(node_for, departments):
    """A node wired to every mock department."""
    return await node_for({d: mock.url for d, mock in departments.items()})
