"""What every mock department shares: an aiohttp app on its own port, a request counter
that tests read to prove no call was made, fault injection (`mocks/faults.py`, switched at
`/_admin/faults`), and start/stop."""
from __future__ import annotations

import ssl
from collections import Counter

from aiohttp import web

from mocks.faults import Faults

STATS_KEY = web.AppKey("stats", Counter)


@web.middleware
async def count_requests(request: web.Request, handler):
    if not request.path.startswith("/_admin"):
        request.app[STATS_KEY]["requests"] += 1
    return await handler(request)


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
