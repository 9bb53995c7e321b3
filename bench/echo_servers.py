"""Baselines for the benchmark, each the cost floor of one kind of call on this machine:

    python bench/echo_servers.py grpc PORT CERT KEY   raw grpc.aio server (TLS) echoing the request bytes
    python bench/echo_servers.py http PORT   plain aiohttp handler answering a small JSON

With `--audited`, each call first waits for one durable record through the node's own audit
trail and store (settings from the QUERYNODE_* environment, as `querynode serve` reads them):
the floor that the rule "no answer without a durable record" sets, with nothing else of the
node's work.
"""
from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from aiohttp import web

ANSWER = {"verdict": "MATCH", "result": {"verdict": "MATCH", "mismatched_items": []}, "warnings": [],
          "provenance": {"department": "identity", "source_time": "2026-11-28T00:00:00+00:00", "audit_id": "0" * 32,
                         "request_id": "0" * 32, "from_cache": True, "cache_age_seconds": 1.0, "stale": False,
                         "unavailable_reason": ""}}


async def durable_record() -> Callable[[], Awaitable[None]]:
    """A call's audit record, written and committed (fsync) before it returns."""
    from querynode.config import load_settings
    from querynode.core.audit import AuditTrail
    from querynode.domain.model import RequestContext
    from querynode.security.audit_store import store_for

    store = store_for(load_settings(None), checkpoints=False)
    await store.open()
    trail = AuditTrail(store)
    ctx = RequestContext(case_number="BENCH-0001", operator_id="bench", purpose="benchmark", caller="bench",
                         request_id=uuid.uuid4().hex)

    async def record() -> None:
        await trail.record(audit_id=uuid.uuid4().hex, ctx=ctx, operation="VerifyIdentity", department="identity",
                           subject_index="0" * 64, outcome="CACHE_HIT", latency_ms=0.0)
    return record


async def nothing() -> None:
    pass


async def grpc_echo(port: int, cert: str, key: str, audited: bool = False) -> None:
    record = await durable_record() if audited else nothing

    async def echo(request: bytes, context) -> bytes:
        await record()
        return request

    handler = grpc.method_handlers_generic_handler(
        "querynode.v1.QueryNode", {"VerifyIdentity": grpc.unary_unary_rpc_method_handler(echo)})
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    credentials = grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def http_json(port: int, audited: bool = False) -> None:
    record = await durable_record() if audited else nothing

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        await record()
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/api/v1/identity/verify", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    audited = "--audited" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--audited"]
    kind, port = args[0], int(args[1])
    asyncio.run(grpc_echo(port, *args[2:4], audited=audited) if kind == "grpc" else http_json(port, audited))
