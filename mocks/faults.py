"""Fault injection for every mock department, switchable at run time.

A department's faults are one `FaultPlan`; it applies to every request except `/_admin/*`:

    latency              added delay: "200" (ms, fixed), "uniform:100:500", "exponential:200"
                         (mean ms) or "normal:200:50" (mean, sd ms; never below 0)
    error_rate           share of requests answered 503
    hang_rate            share of requests never answered (until the plan changes or the mock stops)
    reset_rate           share of requests whose connection is reset (TCP RST), no reply
    throttle_rate        share of requests answered 429 with Retry-After: retry_after_seconds
    malformed_rate       share of requests answered 200 with a body that is not the protocol
    fail_next            the next N requests are answered 503, then normal service
    maintenance_seconds  every request is answered 503 with Retry-After for this long from now

Set it over HTTP (`POST /_admin/faults` with a JSON plan replaces the plan; `{}` clears it;
`GET /_admin/faults` shows it) or at start with `python -m mocks --fault identity=error_rate:0.5`.
"""
from __future__ import annotations

import asyncio
import json
import math
import random
import socket
import struct
import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from querynode.fault_plan import FaultPlan


class Faults:
    """The live fault plan of one mock department and the middleware that applies it."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.plan = FaultPlan()
        self._fail_left = 0
        self._maintenance_until = 0.0
        self._released = asyncio.Event()

    def set(self, plan: FaultPlan) -> None:
        """Replace the plan; requests hung by the old one are let go (answered 503)."""
        self.release_hung()
        self.plan = plan
        self._fail_left = plan.fail_next
        self._maintenance_until = time.monotonic() + plan.maintenance_seconds

    def release_hung(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    def describe(self) -> dict[str, Any]:
        return {**self.plan.model_dump(), "fail_next_left": self._fail_left,
                "maintenance_left_seconds": round(max(0.0, self._maintenance_until - time.monotonic()), 3)}

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if request.path.startswith("/_admin"):
            return await handler(request)
        plan, rng = self.plan, self.rng
        maintenance_left = self._maintenance_until - time.monotonic()
        if maintenance_left > 0:
            return _unavailable("maintenance", retry_after=maintenance_left)
        if self._fail_left > 0:
            self._fail_left -= 1
            return _unavailable("injected failure")
        delay = plan.delay_seconds(rng)
        if delay:
            await asyncio.sleep(delay)
        if rng.random() < plan.hang_rate:
            await self._released.wait()
            return _unavailable("released from hang")
        if rng.random() < plan.reset_rate:
            _reset(request)
            raise asyncio.CancelledError  # the connection is gone; nothing to answer
        if rng.random() < plan.throttle_rate:
            return web.json_response({"error": "quota exceeded"}, status=429,
                                     headers={"Retry-After": f"{plan.retry_after_seconds:g}"})
        if rng.random() < plan.error_rate:
            return _unavailable("injected error")
        if rng.random() < plan.malformed_rate:
            await handler(request)  # the department did the work; the reply is spoiled
            return web.Response(body=b'{"head": {"status": "00", "msg": ', content_type="application/json")
        return await handler(request)

    async def admin(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                body = await request.read()
                self.set(FaultPlan.model_validate_json(body or b"{}"))
            except ValidationError as exc:
                errors = [{"field": ".".join(map(str, err["loc"])), "reason": err["msg"]} for err in exc.errors()]
                return web.json_response({"error": "invalid fault plan", "details": errors}, status=400)
        return web.json_response(self.describe())


def _unavailable(reason: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else {}
    return web.Response(status=503, text=json.dumps({"error": reason}), content_type="application/json",
                        headers=headers)


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0) instead of an orderly FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
