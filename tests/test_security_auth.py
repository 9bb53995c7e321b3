"""Caller authentication and authorization over real sockets: mutual TLS, bearer tokens on
gRPC and the JSON API, per-caller scopes and view levels, and the audit of every refusal."""
from __future__ import annotations

import dataclasses

import aiohttp
import grpc
import pytest
from aiohttp import web

from mocks.credit_code import CreditCodeDepartment
from querynode.api.grpc.servicer import start_grpc_server
from querynode.api.http import json_api
from querynode.api.http.app import create_app
from querynode.config import CallerSettings, SecuritySettings
from querynode.node import Node
from querynode.security.authentication import (
    UNAUTHENTICATED_CALLER,
    authenticator_for,
    issue_token,
    server_credentials,
)
from querynode.security.masking import mask_name
from querynode.security.tls import ensure_demo_pki, issue, make_ca
from querynode.v1 import querynode_pb2 as pb
from querynode.v1 import querynode_pb2_grpc
from tests.conftest import ctx, json_ctx, make_settings



@pytest.fixture(scope="session")
def samples(world):
    """The few known persons and companies these tests need, straight from the shared world
    (every person of the world is a match at the identity mock)."""
    return {
        "identity": {"match": [{"id_number": p.id_number, "name": p.name} for p in world.persons[:5]]},
        "credit_code": {"active": [{"credit_code": o.credit_code} for o in world.organizations
                                   if o.status == "存续"][:1]},
    }

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return ensure_demo_pki(tmp_path_factory.mktemp("pki"), ("registry-a", "registry-b"))


@dataclasses.dataclass
class SecureNode:
    node: Node
    grpc_target: str
    http_url: str
    tokens: dict[str, str]  # caller -> token


@pytest.fixture
async def secure_node(tmp_path, pki, dept_secret):
    """`await secure_node(urls, grpc_auth="mtls"|"token", callers={...})`: a node whose doors
    authenticate like production (TLS, tokens), with one token per caller named in `tokens`."""
    stops = []

    async def start(urls, *, grpc_auth: str, callers=None, tokens=("registry-a", "registry-b")) -> SecureNode:
        data = tmp_path / f"node{len(stops)}"
        data.mkdir()
        token_file = data / "tokens.json"
        issued = {caller: issue_token(token_file, caller) for caller in tokens}
        # Certificates are accepted from the callers configured; with none, from registry-a and -b.
        security = SecuritySettings(grpc_auth=grpc_auth, http_auth="token", tls_cert_file=pki.server_cert,
                                    tls_key_file=pki.server_key, client_ca_file=pki.ca_cert, tokens_file=token_file,
                                    certificate_callers=[] if callers else ["registry-a", "registry-b"])
        settings = make_settings(data, urls, dept_secret, security=security, callers=callers or {})
        node = await Node.start(settings)
        authenticator = authenticator_for(settings)
        server, port = await start_grpc_server(
            node.hub, "127.0.0.1", 0, anonymous_caller="nobody", authenticator=authenticator,
            credentials=server_credentials(grpc_auth, pki.server_cert, pki.server_key, pki.ca_cert))
        app = create_app(node.hub, anonymous_caller="nobody")
        app[json_api.AUTH_KEY] = authenticator
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()

        async def stop():
            await server.stop(grace=None)
            await runner.cleanup()
            await node.close()

        stops.append(stop)
        return SecureNode(node, f"127.0.0.1:{port}", f"http://127.0.0.1:{runner.addresses[0][1]}", issued)

    yield start
    for stop in reversed(stops):
        await stop()


def channel(target: str, pki, caller: str | None = None, *, cert=None, key=None) -> grpc.aio.Channel:
    if caller is not None:
        cert, key = pki.client_cert(caller).read_bytes(), pki.client_key(caller).read_bytes()
    creds = grpc.ssl_channel_credentials(pki.ca_cert.read_bytes(), key, cert)
    return grpc.aio.secure_channel(target, creds)


def verify_request(person) -> pb.VerifyIdentityRequest:
    return pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"], name=person["name"])


async def test_mtls_caller_is_the_certificate_subject(secure_node, identity_mock, pki, samples):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls")
    async with channel(sn.grpc_target, pki, "registry-b") as ch:
        reply = await querynode_pb2_grpc.QueryNodeStub(ch).VerifyIdentity(verify_request(samples["identity"]["match"][0]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH
    records = await sn.node.audit_store.records()
    assert [r.caller for r in records] == ["registry-b"]


@pytest.mark.parametrize("client", ["no certificate", "certificate of another CA"])
async def test_mtls_refuses_callers_without_a_certificate_of_the_node_ca(secure_node, identity_mock, pki, samples, client):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls")
    other = issue(make_ca("rogue CA"), "registry-a", server=False)  # same subject, wrong issuer
    cert, key = (None, None) if client == "no certificate" else (other.cert_pem, other.key_pem)
    async with channel(sn.grpc_target, pki, cert=cert, key=key) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await querynode_pb2_grpc.QueryNodeStub(ch).VerifyIdentity(
                verify_request(samples["identity"]["match"][0]), timeout=5)
    # Refused in the TLS handshake: the call never reaches the node, let alone a department.
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert identity_mock.stats["requests"] == 0
    assert await sn.node.audit_store.records() == []


async def test_token_caller_accepted_and_missing_or_wrong_token_unauthenticated_and_audited(
        secure_node, identity_mock, pki, samples):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="token")
    request = verify_request(samples["identity"]["match"][0])
    async with channel(sn.grpc_target, pki) as ch:  # server-side TLS only
        stub = querynode_pb2_grpc.QueryNodeStub(ch)
        reply = await stub.VerifyIdentity(request, metadata=[("authorization", f"Bearer {sn.tokens['registry-a']}")])
        assert reply.verdict == pb.IDENTITY_VERDICT_MATCH
        refusals = {
            "none": [],
            "wrong": [("authorization", "Bearer qn_" + "A" * 43)],
            "not bearer": [("authorization", f"Basic {sn.tokens['registry-a']}")],
        }
        for metadata in refusals.values():
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.VerifyIdentity(request, metadata=metadata)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "token" in err.value.details()
    assert identity_mock.stats["requests"] == 1  # only the authenticated call went upstream
    records = await sn.node.audit_store.records()
    assert [(r.caller, r.outcome) for r in records] == [("registry-a", "ANSWERED")] + [
        (UNAUTHENTICATED_CALLER, "UNAUTHENTICATED")] * 3
    assert all(r.case_number == ctx().case_number for r in records)
    assert await sn.node.audit_store.verify_chain() is None


async def test_json_api_bearer_tokens(secure_node, identity_mock, samples):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="token")
    person = samples["identity"]["match"][0]
    body = {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}
    url = sn.http_url + "/api/v1/identity/verify"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {sn.tokens['registry-b']}"}) as r:
            assert r.status == 200
            assert (await r.json())["verdict"] == "MATCH"
        for headers in ({}, {"Authorization": "Bearer qn_nope"}, {"Authorization": "Bearer"}):
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == 401
                assert r.content_type == "application/problem+json"
                text = await r.text()
                assert person["id_number"] not in text and person["name"] not in text
    records = await sn.node.audit_store.records()
    assert [(r.caller, r.outcome) for r in records] == [("registry-b", "ANSWERED")] + [
        (UNAUTHENTICATED_CALLER, "UNAUTHENTICATED")] * 3


async def test_scopes_deny_operations_and_departments_with_a_reason_and_an_audit_record(
        secure_node, identity_mock, start_mock, pki, samples):
    samr = await start_mock(CreditCodeDepartment)
    sn = await secure_node(
        {"identity": identity_mock.url, "credit_code": samr.url}, grpc_auth="mtls",
        callers={"registry-a": CallerSettings(operations=["VerifyIdentity"], view="full"),
                 "registry-b": CallerSettings(departments=["credit_code"], view="full")})
    company = samples["credit_code"]["active"][0]
    async with channel(sn.grpc_target, pki, "registry-a") as a, channel(sn.grpc_target, pki, "registry-b") as b:
        stub_a, stub_b = querynode_pb2_grpc.QueryNodeStub(a), querynode_pb2_grpc.QueryNodeStub(b)
        assert (await stub_a.VerifyIdentity(verify_request(samples["identity"]["match"][0]))).verdict == \
            pb.IDENTITY_VERDICT_MATCH
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub_a.LookupOrganization(pb.LookupOrganizationRequest(context=ctx(), credit_code=company["credit_code"]))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "LookupOrganization" in err.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub_b.VerifyIdentity(verify_request(samples["identity"]["match"][0]))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "department identity" in err.value.details()
    assert samr.stats["requests"] == 0 and identity_mock.stats["requests"] == 1
    records = await sn.node.audit_store.records()
    assert [(r.caller, r.operation, r.outcome) for r in records] == [
        ("registry-a", "VerifyIdentity", "ANSWERED"),
        ("registry-a", "LookupOrganization", "PERMISSION_DENIED"),
        ("registry-b", "VerifyIdentity", "PERMISSION_DENIED"),
    ]


async def test_unregistered_caller_denied(secure_node, identity_mock, pki, samples):
    """A token of a caller missing from `callers` is denied; a certificate of one is refused at
    the door (deny by default, issue 18 M7)."""
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls",
                           callers={"registry-a": ["*"]})
    async with channel(sn.grpc_target, pki, "registry-b") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await querynode_pb2_grpc.QueryNodeStub(ch).VerifyIdentity(verify_request(samples["identity"]["match"][0]))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "not a caller of this node" in err.value.details()
    person = samples["identity"]["match"][0]
    async with aiohttp.ClientSession() as session, session.post(
            f"{sn.http_url}/api/v1/identity/verify", headers={"Authorization": f"Bearer {sn.tokens['registry-b']}"},
            json={"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}) as resp:
        assert resp.status == 403 and "not registered" in (await resp.json())["detail"]
    assert identity_mock.stats["requests"] == 0


async def test_operator_limit_per_minute(secure_node, identity_mock, pki, samples):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls",
                           callers={"registry-a": CallerSettings(operator_limit_per_minute=2)})
    request = verify_request(samples["identity"]["match"][0])
    async with channel(sn.grpc_target, pki, "registry-a") as ch:
        stub = querynode_pb2_grpc.QueryNodeStub(ch)
        for _ in range(2):
            await stub.VerifyIdentity(request)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.VerifyIdentity(request)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Another operator of the same caller has a budget of its own.
        other = pb.VerifyIdentityRequest(context=ctx(operator_id="clerk-008"), id_number=request.id_number, name=request.name)
        assert (await stub.VerifyIdentity(other)).verdict == pb.IDENTITY_VERDICT_MATCH
    outcomes = [r.outcome for r in await sn.node.audit_store.records()]
    assert outcomes.count("RESOURCE_EXHAUSTED") == 1


async def test_view_levels_mask_personal_data_before_it_leaves(secure_node, start_mock, world, samples):
    samr = await start_mock(CreditCodeDepartment)
    sn = await secure_node(
        {"credit_code": samr.url}, grpc_auth="token", tokens=("full", "masked", "verdict"),
        callers={name: CallerSettings(view=name) for name in ("full", "masked", "verdict")})
    company = samples["credit_code"]["active"][0]
    body = {"context": json_ctx(), "credit_code": company["credit_code"]}
    seen = {}
    async with aiohttp.ClientSession() as http:
        for caller, token in sn.tokens.items():
            async with http.post(sn.http_url + "/api/v1/organizations/lookup", json=body,
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
                payload = await r.json()
                assert payload["verdict"] == "FOUND"
                seen[caller] = payload["result"]["organizations"][0]["legal_representative"]
    full = seen["full"]
    assert len(full) >= 2 and "*" not in full
    assert seen["masked"] == seen["verdict"] == mask_name(full)
    assert full not in seen["masked"]


async def test_plain_text_grpc_only_on_loopback(node):
    with pytest.raises(ValueError, match="loopback"):
        await start_grpc_server(node.node.hub, "0.0.0.0", 0, anonymous_caller="x")


async def test_caller_limit_counts_every_operator_id(secure_node, identity_mock, pki, samples):
    """Issue 18 M2: rotating operator ids defeated the per-operator limit (40 of 40 answered)."""
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls",
                           callers={"registry-a": CallerSettings(operator_limit_per_minute=5,
                                                                 caller_limit_per_minute=10)})
    person = samples["identity"]["match"][0]
    codes = []
    async with channel(sn.grpc_target, pki, "registry-a") as ch:
        stub = querynode_pb2_grpc.QueryNodeStub(ch)
        for n in range(40):
            try:
                await stub.VerifyIdentity(pb.VerifyIdentityRequest(
                    context=ctx(operator_id=f"op-{n}"), id_number=person["id_number"], name=person["name"]))
                codes.append("OK")
            except grpc.aio.AioRpcError as err:
                codes.append(err.code().name)
    assert codes == ["OK"] * 10 + ["RESOURCE_EXHAUSTED"] * 30
    assert identity_mock.stats["requests"] <= 10


async def test_operator_roster_and_case_number_pattern_are_enforced(secure_node, identity_mock, pki, samples):
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="mtls",
                           callers={"registry-a": CallerSettings(operators=["clerk-007"],
                                                                 case_number_pattern=r"2026-\d{6}-\d{6}")})
    person = samples["identity"]["match"][0]
    async with channel(sn.grpc_target, pki, "registry-a") as ch:
        stub = querynode_pb2_grpc.QueryNodeStub(ch)
        ok = await stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"],
                                                                name=person["name"]))
        assert ok.verdict == pb.IDENTITY_VERDICT_MATCH
        for context, words in ((ctx(operator_id="clerk-999"), "roster"), (ctx(case_number="INVENTED-1"), "pattern")):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.VerifyIdentity(pb.VerifyIdentityRequest(context=context, id_number=person["id_number"],
                                                                   name=person["name"]))
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and words in err.value.details()
    assert identity_mock.stats["requests"] == 1
    outcomes = [r.outcome for r in await sn.node.audit_store.records()]
    assert outcomes == ["ANSWERED", "PERMISSION_DENIED", "PERMISSION_DENIED"]
