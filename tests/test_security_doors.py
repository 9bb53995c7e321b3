"""Every call audited, floods summarised, the source on record (issue 18, M3/M4/M1 parts).

Counted, never timed: an unauthenticated flood leaves a bounded number of records and one
summary per source and minute with its count; JSON-door 400s and undecodable gRPC messages
are on record; logins are audited and throttled per address; records carry the source
address, X-Forwarded-For believed only from configured proxies; HSTS and Secure cookies
behind a trusted TLS proxy; an intent record exists before any department is asked."""
from __future__ import annotations

import asyncio
import json
import logging
import re

import aiohttp
import grpc
import pytest
from aiohttp import web

from prometheus_client import REGISTRY

from querynode.api.http.app import create_app
from querynode.api.http.tls_site import http_site
from querynode.core.audit import REFUSED_CALLS, UNAUTHENTICATED_CALLER
from querynode.security.accounts import AccountStore, Role, accounts_path
from querynode.security.door import REFUSALS_AUDITED_EACH, REFUSALS_PER_MINUTE, client_address, parse_networks
from querynode.security.field_crypto import cipher_for
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx
from tests.test_security_auth import pki, samples, secure_node  # noqa: F401 - fixtures

FLOOD = 300


async def test_unauthenticated_flood_is_rate_limited_and_summarised(secure_node, identity_mock):
    """The red team's `{}` without a token: 11,816 durable records in 10 s before."""
    sn = await secure_node({"identity": identity_mock.url}, grpc_auth="token")
    url = f"{sn.http_url}/api/v1/identity/verify"
    async with aiohttp.ClientSession() as session:
        async def post() -> int:
            async with session.post(url, json={}) as resp:
                await resp.read()
                return resp.status

        statuses = [await post() for _ in range(FLOOD)]
    assert statuses.count(401) == REFUSALS_PER_MINUTE or statuses[0] == 401  # a minute may turn mid-flood
    assert statuses.count(401) + statuses.count(429) == FLOOD and statuses.count(429) > 0
    store = sn.node.audit_store
    one_by_one = [r for r in await store.records() if r.operation == "VerifyIdentity"]
    assert len(one_by_one) <= 2 * REFUSALS_AUDITED_EACH  # at most two minutes' worth
    assert {(r.caller, r.outcome, r.source) for r in one_by_one} == {(UNAUTHENTICATED_CALLER, "UNAUTHENTICATED",
                                                                       "127.0.0.1")}
    await sn.node.hub.audit.write_summaries(everything=True)
    summaries = [r for r in await store.records(all_kinds=True) if r.operation == REFUSED_CALLS]
    counted = sum(int(r.purpose.split()[0]) for r in summaries)
    assert len(one_by_one) + counted == FLOOD  # every refusal is on record, one way or the other
    assert {r.source for r in summaries} == {"127.0.0.1"} and len(summaries) <= 2
    assert identity_mock.stats["requests"] == 0


async def test_records_carry_the_source_address(node, samples):
    person = samples["identity"]["match"][0]
    await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number=person["id_number"],
                                                            name=person["name"]))
    async with aiohttp.ClientSession() as session, session.post(
            f"{node.http_url}/api/v1/identity/verify",
            json={"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}) as resp:
        assert resp.status == 200
    records = await node.node.audit_store.records()
    assert [r.source for r in records] == ["127.0.0.1", "127.0.0.1"]


async def test_json_door_400_and_bad_json_are_audited(node, identity_mock):
    async with aiohttp.ClientSession() as session:
        for body in (b'{"context": {}}', b"{not json", b"[]"):
            async with session.post(f"{node.http_url}/api/v1/identity/verify", data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 400
    records = await node.node.audit_store.records()
    assert [(r.caller, r.operation, r.outcome) for r in records] == [
        ("test-registry", "VerifyIdentity", "INVALID_ARGUMENT")] * 3
    assert identity_mock.stats["requests"] == 0


async def test_undecodable_grpc_message_is_refused_audited_and_names_no_parser_class(node, identity_mock):
    async with grpc.aio.insecure_channel(node.grpc_target) as channel:
        call = channel.unary_unary("/querynode.v1.QueryNode/VerifyIdentity",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(b"\xff\xff\xff\xff\x0f", timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Decode" not in err.value.details() and "class" not in err.value.details()
    records = await node.node.audit_store.records()
    assert [(r.operation, r.outcome, r.source) for r in records] == [
        ("VerifyIdentity", "INVALID_ARGUMENT", "127.0.0.1")]
    assert identity_mock.stats["requests"] == 0


async def test_grpc_call_without_context_is_audited(node, identity_mock):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(id_number="11010519491231002X", name="张三"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    records = await node.node.audit_store.records()
    assert [(r.operation, r.outcome) for r in records] == [("VerifyIdentity", "INVALID_ARGUMENT")]


async def _csrf(session, base: str) -> str:
    async with session.get(f"{base}/login") as resp:
        return re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)


async def test_logins_are_audited_and_throttled_per_address(node):
    store = AccountStore(accounts_path(node.node.settings.data_dir), cipher_for(node.node.settings))
    await store.open()
    await store.add_user("clerk01", "Window-Clerk-2026", Role.CLERK)
    await store.close()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async def login(password: str) -> int:
            token = await _csrf(session, node.http_url)
            async with session.post(f"{node.http_url}/login", allow_redirects=False,
                                    data={"csrf_token": token, "username": "clerk01", "password": password}) as resp:
                return resp.status

        assert await login("Window-Clerk-2026") == 303
        statuses = [await login("Wrong-Password-1") for _ in range(12)]
        assert await login("Window-Clerk-2026") == 429  # the address is throttled, whatever the password
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    records = [r for r in await node.node.audit_store.records(all_kinds=True) if r.operation == "Login"]
    outcomes = [r.outcome for r in records]
    assert outcomes[:11] == ["LOGIN_OK"] + ["LOGIN_REFUSED"] * 10
    assert {r.operator_id for r in records} == {"clerk01"} and {r.source for r in records} == {"127.0.0.1"}
    assert all(o == "RESOURCE_EXHAUSTED" for o in outcomes[11:]) and len(outcomes) == 14


@pytest.mark.parametrize("trusted,expected", [((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.9")])
async def test_forwarded_headers_believed_only_from_trusted_proxies(node, samples, trusted, expected):
    runner = web.AppRunner(create_app(node.node.hub, anonymous_caller="test-registry", trusted_proxies=trusted,
                                      accounts=AccountStore(accounts_path(node.node.settings.data_dir),
                                                            cipher_for(node.node.settings))),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    person = samples["identity"]["match"][0]
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/v1/identity/verify", headers=headers,
                                    json={"context": json_ctx(), "id_number": person["id_number"],
                                          "name": person["name"]}) as resp:
                assert resp.status == 200
                hsts = resp.headers.get("Strict-Transport-Security")
            async with session.get(f"{base}/login", headers=headers) as resp:
                cookie = resp.headers.get("Set-Cookie", "")
    finally:
        await runner.cleanup()
    assert [r.source for r in await node.node.audit_store.records()] == [expected]
    if trusted:  # TLS ended at the trusted edge: HSTS, and cookies only over HTTPS
        assert hsts and "max-age=" in hsts and "Secure" in cookie
    else:
        assert hsts is None and "Secure" not in cookie


def test_client_address_ignores_what_an_untrusted_peer_says():
    proxies = parse_networks(["10.0.0.0/8"])
    assert client_address("10.1.2.3", "203.0.113.9", proxies) == "203.0.113.9"
    assert client_address("10.1.2.3", "203.0.113.9, 10.9.9.9", proxies) == "203.0.113.9"
    assert client_address("192.0.2.7", "203.0.113.9", proxies) == "192.0.2.7"
    assert client_address("10.1.2.3", "not-an-ip", proxies) == "10.1.2.3"


async def test_intent_record_exists_before_the_department_is_asked(node_for, fake_upstream, samples):
    """After a kill -9 run the identity mock had 1,289 requests and the audit 1,278 records:
    the department was asked before anything was on record."""
    seen: list[list] = []
    running = None

    async def department(request):
        records = await running.node.audit_store.records(all_kinds=True)
        seen.append([(r.audit_id, r.outcome) for r in records])
        return web.Response(status=503)

    running = await node_for({"identity": await fake_upstream(department)})
    person = samples["identity"]["match"][0]
    reply = await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]), timeout=10)
    audit_id = reply.provenance.audit_id
    assert seen and all((f"{audit_id}-intent", "INTENT") in snapshot for snapshot in seen)
    records = await running.node.audit_store.records(all_kinds=True)
    assert [(r.audit_id, r.outcome) for r in records] == [(f"{audit_id}-intent", "INTENT"),
                                                          (audit_id, "SOURCE_UNAVAILABLE")]
    assert await running.node.audit_store.verify_chain() is None


async def test_http_door_serves_tls_with_hsts(node, samples, tmp_path):
    """M1: tokens, passwords and ID numbers crossed the hop to :8080 in clear."""
    import ssl

    from querynode.cli import http_ssl_context
    from querynode.config import SecuritySettings, Settings
    from querynode.security.tls import ensure_demo_pki

    pki = ensure_demo_pki(tmp_path / "pki")
    settings = Settings(data_dir=tmp_path, security=SecuritySettings(
        http_tls=True, tls_cert_file=pki.server_cert, tls_key_file=pki.server_key))
    runner = web.AppRunner(create_app(node.node.hub, anonymous_caller="test-registry"), access_log=None)
    await runner.setup()
    await http_site(runner, "127.0.0.1", 0, http_ssl_context(settings)).start()
    port = runner.addresses[0][1]
    person = samples["identity"]["match"][0]
    body = {"context": json_ctx(), "id_number": person["id_number"], "name": person["name"]}
    try:
        client_tls = ssl.create_default_context(cafile=pki.ca_cert)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"https://127.0.0.1:{port}/api/v1/identity/verify", json=body,
                                    ssl=client_tls) as resp:
                assert resp.status == 200
                assert "max-age=" in resp.headers["Strict-Transport-Security"]
            with pytest.raises(aiohttp.ClientError):
                async with session.post(f"http://127.0.0.1:{port}/api/v1/identity/verify", json=body) as resp:
                    await resp.read()
    finally:
        await runner.cleanup()
    with pytest.raises(SystemExit, match="tls_cert_file"):
        http_ssl_context(Settings(data_dir=tmp_path, security=SecuritySettings(http_tls=True)))


def handshake_failures(reason: str) -> float:
    return REGISTRY.get_sample_value("querynode_tls_handshake_failures_total",
                                     {"door": "http", "reason": reason}) or 0.0


async def test_failed_tls_handshakes_are_logged_with_the_peer_and_counted(node, tmp_path, caplog):
    """M3: a TLS handshake failure left no log line with the peer address and no count."""
    import ssl

    from querynode.api.http.tls_site import TlsSite
    from querynode.security.tls import ensure_demo_pki, server_ssl_context

    pki, stranger = ensure_demo_pki(tmp_path / "pki"), ensure_demo_pki(tmp_path / "other-pki")
    runner = web.AppRunner(create_app(node.node.hub, anonymous_caller="test-registry"), access_log=None)
    await runner.setup()
    await TlsSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(pki.server_cert, pki.server_key),
                  handshake_timeout=0.5).start()
    port = runner.addresses[0][1]
    before = {reason: handshake_failures(reason) for reason in ("protocol", "reset", "timeout")}
    peers = {}
    try:
        with caplog.at_level(logging.WARNING, logger="querynode.tls"):
            # plain HTTP to the TLS port
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            peers["protocol"] = writer.get_extra_info("sockname")[1]
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
            assert await reader.read() == b""  # closed without an answer
            writer.close()
            # a client that trusts another CA refuses the node's certificate and hangs up
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection("127.0.0.1", port,
                                              ssl=ssl.create_default_context(cafile=stranger.ca_cert))
            # a client that connects and never says hello
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            peers["timeout"] = writer.get_extra_info("sockname")[1]
            assert await reader.read() == b""  # cut off after the handshake time-out
            writer.close()
            # the door still serves a good client afterwards
            async with aiohttp.ClientSession() as session:
                async with session.get(f"https://127.0.0.1:{port}/healthz",
                                       ssl=ssl.create_default_context(cafile=pki.ca_cert)) as resp:
                    assert resp.status == 200
    finally:
        await runner.cleanup()
    assert {reason: handshake_failures(reason) - before[reason] for reason in before} == \
        {"protocol": 1, "reset": 1, "timeout": 1}
    lines = [(r.getMessage(), r.reason, r.peer) for r in caplog.records if r.name == "querynode.tls"]
    assert ("TLS handshake failed", "protocol", f"127.0.0.1:{peers['protocol']}") in lines
    assert ("TLS handshake failed", "timeout", f"127.0.0.1:{peers['timeout']}") in lines
    assert len(lines) == 3 and all(peer.startswith("127.0.0.1:") for _, _, peer in lines)
    # and the JSON log line the operator reads keeps them
    from querynode.observability.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(next(r for r in caplog.records if r.name == "querynode.tls")))
    assert line["peer"].startswith("127.0.0.1:") and line["reason"] in ("protocol", "reset", "timeout")
