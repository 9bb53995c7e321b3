"""What the HTTP door adds for operators: the call-observing middleware (metrics, one JSON
log line per call, X-Request-Id in and out), `/healthz`, `/readyz` and `/metrics`."""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from aiohttp import web

from querynode.api.errors import ERROR_TABLE
from querynode.api.http import json_api
from querynode.core.operations import registry
from querynode.observability import metrics
from querynode.observability.calls import accept_request_id, observe_call
from querynode.observability.health import AuditWatch

# The node's readiness watch; `/readyz` answers 503 once it drains (shutting down).
AUDIT_WATCH_KEY = web.AppKey("audit_watch", AuditWatch)

# Probes and scrapes are not calls: they would drown the log and the call metrics.
_UNOBSERVED = ("/healthz", "/readyz", "/metrics", "/static/", "/favicon.ico")
# HTTP status -> the gRPC status code name the gRPC door would report, so both doors share one
# `code` vocabulary in `querynode_calls_total`.
_CODES = {m.http_status: m.grpc_code.name for m in ERROR_TABLE.values()} | {
    413: "INVALID_ARGUMENT", 405: "UNIMPLEMENTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def code_for_status(status: int) -> str:
    if status < 400:
        return "OK"
    return _CODES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL")


def _operation(request: web.Request) -> str:
    """A bounded name: the lookup's operation, else the route's template, never the raw path."""
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    op = registry().operation_at(resource.canonical)
    return op.name if op else f"{request.method} {resource.canonical}"


@web.middleware
async def observe_middleware(request: web.Request, handler) -> web.StreamResponse:
    if request.path.startswith(_UNOBSERVED):
        return await handler(request)
    raised: web.HTTPException | None = None
    with observe_call("http", _operation(request), accept_request_id(request.headers.get("X-Request-Id"))) as call:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects (errors become problem+json further in)
            raised, response = exc, exc
        call.code = code_for_status(response.status)
    response.headers["X-Request-Id"] = call.request_id
    if raised is not None:
        raise raised
    return response


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers; `pid` tells the workers of `serve --workers N` apart."""
    return web.json_response({"status": "alive", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    """Ready: configuration loaded and the audit store writable (the node fails closed
    without it), and not draining. Lists each department with its breaker state and transport."""
    watch = request.app.get(AUDIT_WATCH_KEY)
    if watch is not None and watch.draining:
        return web.json_response({"status": "draining", "pid": os.getpid()}, status=503)
    hub = request.app[json_api.HUB_KEY]
    audit_writable = await hub.audit.store.writable()
    metrics.AUDIT_STORE_WRITABLE.set(1 if audit_writable else 0)
    departments = {}
    for dept, connector in sorted(hub.connectors.items()):
        guards = getattr(hub, "guards", {}).get(dept)
        departments[dept] = {
            "breaker": str(guards.breaker.state) if guards is not None else "none",
            "plain_http": urlsplit(connector.config.base_url).scheme == "http",
        }
    ready = audit_writable and bool(hub.connectors)
    # A cache backend that fails degrades speed, not answers: reported, not a reason to be unready.
    body = {"status": "ready" if ready else "not_ready", "configuration_loaded": bool(hub.connectors),
            "audit_store_writable": audit_writable, "cache_backend_ok": hub.cache.backend_ok,
            "departments": departments}
    return web.json_response(body, status=200 if ready else 503)


async def metrics_endpoint(request: web.Request) -> web.Response:
    hub = request.app[json_api.HUB_KEY]
    for dept, guards in getattr(hub, "guards", {}).items():
        metrics.record_guards(dept, guards)
    body, content_type = metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
