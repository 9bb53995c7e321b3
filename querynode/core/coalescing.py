"""Stage 4b: concurrent identical lookups share one upstream call (single-flight)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class SingleFlight:
    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Future] = {}
        self.coalesced = 0

    async def run(self, key: str, fn: Callable[[], Awaitable[Any]],
                  on_wait: Callable[[], None] | None = None) -> Any:
        """Run `fn` once per key at a time; `on_wait` is called when this call joins one in flight."""
        existing = self._inflight.get(key)
        if existing is not None:
            self.coalesced += 1
            if on_wait is not None:
                on_wait()
            return await asyncio.shield(existing)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await fn()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters may be none
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]
