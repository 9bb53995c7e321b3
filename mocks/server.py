"""What every mock department shares: an aiohttp app on its own port, a request counter
that tests read to prove no call was made, fault injection (`mocks/faults.py`, switched at
`/_admin/faults`), and start/stop."""
from __future__ import annotations

import ssl
import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from mocks.faults import Faults

STATS_KEY = web.AppKey("stats", Counter)
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the departments' clock
MAX_SKEW_SECONDS = 300  # a signed timestamp further off than this is refused


def sent_at_ms(text: str) -> float | None:
    """A millisecond epoch timestamp as epoch seconds; None when it is not one."""
    return int(text) / 1000 if text.isdigit() else None


def sent_at_beijing(text: str, fmt: str = "%Y%m%d%H%M%S") -> float | None:
    """A Beijing-time timestamp (20260101120000) as epoch seconds; None when it is not one."""
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=SHANGHAI).timestamp()
    except ValueError:
        return None


class ReplayGuard:
    """What a department checks besides the signature: the signed timestamp is within
    MAX_SKEW_SECONDS of its clock, and (where the protocol signs one) the nonce is new."""

    def __init__(self, max_skew_seconds: float = MAX_SKEW_SECONDS, max_nonces: int = 20_000) -> None:
        self.max_skew_seconds = max_skew_seconds
        self.max_nonces = max_nonces
        self._nonces: dict[str, float] = {}

    def fresh(self, sent_at: float | None) -> bool:
        return sent_at is not None and abs(time.time() - sent_at) <= self.max_skew_seconds

    def first_use(self, nonce: str) -> bool:
        """Record the nonce of a request whose signature checked out; False if seen before."""
        now = time.time()
        if len(self._nonces) > self.max_nonces:  # forget nonces older than any timestamp still accepted
            self._nonces = {n: t for n, t in self._nonces.items() if now - t <= 2 * self.max_skew_seconds}
        if not nonce or nonce in self._nonces:
            return False
        self._nonces[nonce] = now
        return True


@web.middleware
async def count_requests(request: web.Request, handler):
    if request.path.startswith("/_admin"):
        return await handler(request)
    request.app[STATS_KEY]["requests"] += 1
    try:
        return await handler(request)
    finally:
        request.app[STATS_KEY]["answered"] += 1


async def admin_stats(request: web.Request) -> web.Response:
    return web.json_response(dict(request.app[STATS_KEY]))


class MockDepartment:
    """Base of a simulated department. Subclasses add routes in `routes`."""

    name = "department"

    def __init__(self) -> None:
        self.faults = Faults()
        self.app = web.Application(middlewares=[count_requests, self.faults.middleware], client_max_size=1024 * 1024)
        self.app[STATS_KEY] = Counter()
        self.app.router.add_get("/_admin/stats", admin_stats)
        self.app.router.add_route("GET", "/_admin/faults", self.faults.admin)
        self.app.router.add_route("POST", "/_admin/faults", self.faults.admin)
        self.routes(self.app)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.scheme = "http"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def stats(self) -> Counter:
        return self.app[STATS_KEY]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen on host:port (0: a free port); HTTPS when given a server ssl_context."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        self.scheme = "https" if ssl_context is not None else "http"
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        self.faults.release_hung()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
