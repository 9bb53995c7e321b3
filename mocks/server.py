"""What every mock department shares: an aiohttp app on its own port, a request counter
that tests read to prove no call was made, and start/stop."""
from __future__ import annotations

from collections import Counter

from aiohttp import web

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
        self.app = web.Application(middlewares=[count_requests], client_max_size=1024 * 1024)
        self.app[STATS_KEY] = Counter()
        self.app.router.add_get("/_admin/stats", admin_stats)
        self.routes(self.app)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def stats(self) -> Counter:
        return self.app[STATS_KEY]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
