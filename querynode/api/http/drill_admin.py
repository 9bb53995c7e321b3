"""`/_admin/faults`: the drill's fault switches (querynode/faults.py) over HTTP.

Only in a node started with `drill.enabled`, and only for a bearer token of a caller named
in `drill.admin_callers` (never the anonymous loopback caller). GET shows the switches and
what the drill needs to know about this process; POST replaces them (`{}` clears them);
POST {"kill_worker": true} ends this worker process (only under `serve --workers N`).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass

from aiohttp import web
from pydantic import ValidationError

from querynode.config import Settings
from querynode.faults import DrillFaults, FaultSwitches
from querynode.security.authentication import Authenticator, bearer

log = logging.getLogger("querynode.drill")


@dataclass
class DrillAdmin:
    settings: Settings
    faults: DrillFaults | None
    authenticator: Authenticator
    worker: bool
    grpc_port: int


DRILL_KEY = web.AppKey("drill_admin", DrillAdmin)


def _refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _admin_caller(request: web.Request, admin: DrillAdmin) -> str | web.Response:
    token = bearer(request.headers.get("Authorization"))
    caller = admin.authenticator.tokens.caller_for(token) if token else None
    if caller is None:
        return _refuse(401, "an admin bearer token is required (Authorization: Bearer <token>)")
    if caller not in admin.settings.drill.admin_callers:
        return _refuse(403, f"caller {caller!r} is not a drill admin (drill.admin_callers)")
    return caller


async def faults(request: web.Request) -> web.Response:
    admin = request.app[DRILL_KEY]
    if admin.faults is None:
        return _refuse(403, "this node is not in drill mode: start it with drill.enabled "
                            "(QUERYNODE_DRILL__ENABLED=true) to run a drill against it")
    caller = _admin_caller(request, admin)
    if isinstance(caller, web.Response):
        return caller
    if request.method == "POST":
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _refuse(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return _refuse(400, "the body must be a JSON object")
        if body.get("kill_worker") is True:
            return _kill_worker(admin, caller)
        try:
            switches = FaultSwitches.model_validate(body)
        except ValidationError as exc:
            errors = [{"field": ".".join(map(str, err["loc"])), "reason": err["msg"]} for err in exc.errors()]
            return web.json_response({"error": "invalid fault switches", "details": errors}, status=400)
        admin.faults.set(switches)
        log.warning("drill switches set by %s: %s", caller, admin.faults.describe() or "cleared")
    sec = admin.settings.security
    return web.json_response({
        "drill_mode": True, "switches": admin.faults.describe(), "pid": os.getpid(), "worker": admin.worker,
        "default_deadline_seconds": admin.settings.default_deadline_seconds,
        "grpc": {"port": admin.grpc_port, "auth": sec.grpc_auth},
    })


def _kill_worker(admin: DrillAdmin, caller: str) -> web.Response:
    if not admin.worker:
        return _refuse(409, "this node runs as one process (no serve --workers N): killing it stops the node")
    pid = os.getpid()
    log.warning("drill: worker pid %d killed by %s", pid, caller)
    asyncio.get_running_loop().call_later(0.2, os.kill, pid, signal.SIGKILL)
    return web.json_response({"killed_pid": pid})


def add_routes(app: web.Application, admin: DrillAdmin) -> None:
    app[DRILL_KEY] = admin
    app.router.add_route("GET", "/_admin/faults", faults)
    app.router.add_route("POST", "/_admin/faults", faults)
