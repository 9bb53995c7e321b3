"""The JSON API fuzzed from its own OpenAPI document by schemathesis, over a real socket.

A node with bearer-token auth, wired to all seven mock departments, serves from a thread with
its own event loop (schemathesis calls are synchronous). Every operation of
`/api/v1/openapi.json` gets generated requests, valid and invalid, with a valid token; each
answer must not be a server error and must match what the document says: its status codes,
content types and response schemas. Any 5xx fails the test.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import urllib.request

import pytest
import schemathesis
from aiohttp import web
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from mocks.departments import build_departments
from querynode.api.http import json_api
from querynode.api.http.app import create_app
from querynode.api.http.openapi import document
from querynode.node import Node
from querynode.security.authentication import Authenticator, TokenStore, issue_token
from tests.conftest import APP_ID, make_settings

MAX_EXAMPLES = 40  # per operation and phase: the whole run stays well under a minute
# Server errors, and every way the document could lie: status codes, content types, response
# bodies, and requests it calls invalid that the node would accept.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]


@dataclasses.dataclass
class Served:
    url: str
    token: str
    node: Node


@pytest.fixture(scope="module")
def served(world, dept_secret, tmp_path_factory):
    """The mock departments and a token-authenticated node, in a thread with its own loop."""
    data = tmp_path_factory.mktemp("schemathesis")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="node-under-fuzz", daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    async def start():
        departments = {}
        for _, dept in build_departments({APP_ID: dept_secret}, world=world):
            await dept.start()
            departments[dept.name] = dept
        token_file = data / "tokens.json"
        token = issue_token(token_file, "registry-fuzz")
        settings = make_settings(data, {d: mock.url for d, mock in departments.items()}, dept_secret)
        node = await Node.start(settings)
        # Schemathesis probes every operation without a token, hundreds of times a minute from
        # one address: the per-address limit of refused calls (tested in test_security_doors)
        # would answer 429, which its auth check does not expect.
        node.hub.audit.refusals.per_minute = 1_000_000
        app = create_app(node.hub, anonymous_caller="nobody", cases=node.cases)
        app[json_api.AUTH_KEY] = Authenticator(TokenStore.load(token_file), http_mode="token")
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return departments, node, runner, Served(f"http://127.0.0.1:{runner.addresses[0][1]}", token, node)

    departments, node, runner, served = run(start())
    yield served

    async def stop():
        await runner.cleanup()
        await node.close()
        for dept in departments.values():
            await dept.stop()

    run(stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


# Loaded when the module is collected, from the document the node serves (checked below), with
# the base URL and token given per call: the node only exists once the fixture has started it.
schema = schemathesis.openapi.from_dict(document(), config=schemathesis.Config.from_dict({
    "generation": {"max-examples": MAX_EXAMPLES},
    "seed": 20261128,  # the same requests every run: a failure reproduces
}))


def test_the_node_serves_the_document_under_test(served):
    with urllib.request.urlopen(f"{served.url}/api/v1/openapi.json", timeout=10) as resp:
        assert json.loads(resp.read()) == document()
    loaded = schemathesis.openapi.from_url(f"{served.url}/api/v1/openapi.json")
    assert {op.ok().label for op in loaded.get_all_operations()} == {
        op.ok().label for op in schema.get_all_operations()}


@schema.parametrize()
def test_every_operation_answers_within_its_contract(case, served):
    case.call_and_validate(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}, checks=CHECKS)
