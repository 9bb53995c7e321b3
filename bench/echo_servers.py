"""Baselines for the benchmark, each the cost floor of one kind of call on this machine:

    python bench/echo_servers.py grpc PORT CERT KEY   raw grpc.aio server (TLS) echoing the request bytes
    python bench/echo_servers.py http PORT   plain aiohttp handler answering a small JSON
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
from aiohttp import web

ANSWER = {"verdict": "MATCH", "result": {"verdict": "MATCH", "mismatched_items": []}, "warnings": [],
          "provenance": {"department": "identity", "source_time": "2026-11-28T00:00:00+00:00", "audit_id": "0" * 32,
                         "request_id": "0" * 32, "from_cache": True, "cache_age_seconds": 1.0, "stale": False,
                         "unavailable_reason": ""}}


async def grpc_echo(port: int, cert: str, key: str) -> None:
    async def echo(request: bytes, context) -> bytes:
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


async def http_json(port: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/api/v1/identity/verify", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(grpc_echo(port, *sys.argv[3:5]) if kind == "grpc" else http_json(port))
