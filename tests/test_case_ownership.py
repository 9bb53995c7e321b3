"""A case result goes only to whoever ran the case: the caller system (gRPC GetCaseResult, the
JSON API's /cases/result and /records/{id}), the clerk who ran it or an auditor (the print
page). Anyone else gets NOT_FOUND, exactly as for a handle that does not exist, and every
read, released or refused, leaves an audit record."""
from __future__ import annotations

import dataclasses
import re

import aiohttp
import grpc
import pytest
from aiohttp import web

from querynode.api.grpc.servicer import start_grpc_server
from querynode.api.http import json_api
from querynode.api.http.app import create_app
from querynode.domain.case import CaseParty, CaseRequest
from querynode.domain.model import RequestContext
from querynode.node import Node
from querynode.security.authentication import Authenticator, TokenStore, issue_token
from querynode.v1 import querynode_pb2 as pb
from querynode.v1 import querynode_pb2_grpc
from tests.conftest import ctx, json_ctx, make_settings
from tests.test_web_pages import PASSWORD, site  # noqa: F401  (fixture)

CALLERS = ("registry-a", "registry-b")


@dataclasses.dataclass
class TokenNode:
    node: Node
    http_url: str
    stub: querynode_pb2_grpc.QueryNodeStub
    tokens: dict[str, str]  # caller -> bearer token

    def metadata(self, caller: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.tokens[caller]}")]

    def headers(self, caller: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    async def reads(self) -> list:
        return [r for r in await self.node.audit_store.records() if r.operation == "GetCaseResult"]


@pytest.fixture
async def token_node(tmp_path, person_departments, dept_secret):
    """A node whose doors name the caller by bearer token (gRPC and JSON API), one token per
    caller in CALLERS, wired to the identity mock."""
    token_file = tmp_path / "tokens.json"
    tokens = {caller: issue_token(token_file, caller) for caller in CALLERS}
    node = await Node.start(make_settings(tmp_path, person_departments, dept_secret))
    authenticator = Authenticator(TokenStore.load(token_file), grpc_mode="token", http_mode="token")
    server, port = await start_grpc_server(node.hub, "127.0.0.1", 0, anonymous_caller="nobody", cases=node.cases,
                                           authenticator=authenticator)
    app = create_app(node.hub, anonymous_caller="nobody", cases=node.cases)
    app[json_api.AUTH_KEY] = authenticator
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield TokenNode(node, f"http://127.0.0.1:{runner.addresses[0][1]}", querynode_pb2_grpc.QueryNodeStub(channel),
                    tokens)
    await channel.close()
    await server.stop(grace=None)
    await runner.cleanup()
    await node.close()


async def run_case(tn: TokenNode, caller: str, samples, case_number: str) -> pb.CheckCaseResponse:
    a, b = samples["identity"]["match"][:2]
    return await tn.stub.CheckCase(pb.CheckCaseRequest(
        context=ctx(case_number=case_number), registration_type="advance_notice",
        parties=[pb.CaseParty(role="seller", name=a["name"], id_number=a["id_number"]),
                 pb.CaseParty(role="buyer", name=b["name"], id_number=b["id_number"])]),
        metadata=tn.metadata(caller))


async def test_grpc_case_result_only_for_the_caller_that_ran_it(token_node, samples):
    reply = await run_case(token_node, "registry-a", samples, "2026-OWN-0001")
    # A complete case files its record under its own id, which is then its handle.
    request = pb.GetCaseResultRequest(context=ctx(case_number="2026-OTHER-9"), handle=reply.record_id)
    errors = {}
    for label, handle in (("foreign", reply.record_id), ("unknown", "f" * 32)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await token_node.stub.GetCaseResult(pb.GetCaseResultRequest(context=request.context, handle=handle),
                                                metadata=token_node.metadata("registry-b"))
        errors[label] = (info.value.code(), info.value.details())
    assert errors["foreign"] == errors["unknown"]  # nothing tells B the handle exists
    assert errors["foreign"][0] == grpc.StatusCode.NOT_FOUND

    own = await token_node.stub.GetCaseResult(request, metadata=token_node.metadata("registry-a"))
    assert own.record_id == reply.record_id and own.status == pb.CASE_STATUS_CLEAR

    reads = await token_node.reads()
    assert [(r.caller, r.outcome) for r in reads] == [
        ("registry-b", "NOT_FOUND"), ("registry-b", "NOT_FOUND"), ("registry-a", "CLEAR")]
    assert all(r.department == "case" for r in reads)
    assert reads[0].case_number == "2026-OTHER-9"  # a refused read keeps what the caller claimed
    assert reads[2].case_number == "2026-OWN-0001"  # a released one names the case it read


async def test_json_case_result_and_record_file_only_for_the_caller_that_ran_it(token_node, samples):
    reply = await run_case(token_node, "registry-a", samples, "2026-OWN-0002")
    body = {"context": json_ctx(case_number="2026-OWN-0002"), "handle": reply.record_id}
    results = {}
    async with aiohttp.ClientSession() as session:
        for caller in ("registry-b", "registry-a"):
            async with session.post(f"{token_node.http_url}/api/v1/cases/result", json=body,
                                    headers=token_node.headers(caller)) as resp:
                results[("result", caller)] = resp.status, await resp.json(content_type=None)
            async with session.get(f"{token_node.http_url}/api/v1/records/{reply.record_id}",
                                   headers=token_node.headers(caller)) as resp:
                results[("file", caller)] = resp.status, await resp.json(content_type=None)
        async with session.get(f"{token_node.http_url}/api/v1/records/{reply.record_id}") as resp:
            anonymous = resp.status, resp.headers["Content-Type"]

    status, problem = results[("result", "registry-b")]
    assert status == 404 and problem["title"] and reply.record_id not in str(problem)
    assert results[("file", "registry-b")][0] == 404
    status, answer = results[("result", "registry-a")]
    assert status == 200 and answer["record"]["record_id"] == reply.record_id
    status, saved = results[("file", "registry-a")]
    assert status == 200 and saved["digest"] == reply.record_digest and saved["record"]["case"]["caller"] == "registry-a"
    assert anonymous[0] == 401 and anonymous[1].startswith("application/problem+json")

    reads = await token_node.reads()
    assert [(r.caller, r.outcome) for r in reads] == [
        ("registry-b", "NOT_FOUND"), ("registry-b", "NOT_FOUND"), ("registry-a", "CLEAR"), ("registry-a", "CLEAR"),
        ("(unauthenticated)", "UNAUTHENTICATED")]


async def test_clerk_prints_own_records_auditor_any_other_clerk_none(site, samples):  # noqa: F811
    a, b = samples["identity"]["match"][:2]
    case = CaseRequest(registration_type="advance_notice", parties=(
        CaseParty(role="seller", name=a["name"], id_number=a["id_number"]),
        CaseParty(role="buyer", name=b["name"], id_number=b["id_number"])))
    result = await site.node.cases.check(RequestContext(
        case_number="2026-OWN-0003", operator_id="clerk01", purpose="预告登记", caller="web-clerk",
        request_id="t-1"), case)
    record_id = result.record["record_id"]

    async def printed_as(username: str) -> tuple[int, str]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(f"{site.url}/login") as resp:
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)
            async with session.post(f"{site.url}/login", data={"csrf_token": csrf, "username": username,
                                                               "password": PASSWORD}) as resp:
                assert resp.status == 200 and "/login" not in str(resp.url)
            async with session.get(f"{site.url}/records/{record_id}/print") as resp:
                return resp.status, await resp.text()

    other, own, auditor = [await printed_as(u) for u in ("clerk02", "clerk01", "auditor01")]
    assert other[0] == 404 and "核验记录" in other[1] and "2026-OWN-0003" not in other[1]
    assert own[0] == 200 and "2026-OWN-0003" in own[1]
    assert auditor[0] == 200 and "2026-OWN-0003" in auditor[1]
    reads = [r for r in await site.node.audit_store.records() if r.operation == "GetCaseResult"]
    assert [(r.caller, r.operator_id, r.outcome) for r in reads] == [
        ("web-clerk", "clerk02", "NOT_FOUND"), ("web-clerk", "clerk01", "CLEAR"), ("web-clerk", "auditor01", "CLEAR")]
