"""Stage 5b: bulkheads, so one slow or quota-bound department cannot starve the others.

Per connector:
- a concurrency limit: at most `max_concurrent` calls (with their retries) in flight to the
  department; a call waits for a slot at most until its deadline;
- a token bucket for the department's quota: `rate_per_second` requests with bursts of `burst`.
  Every request sent takes a token, retries included, since the department counts requests.

When the wait would outlast the deadline the call is refused with `BulkheadFull`, which the
hub answers like any department failure: the stale answer if one exists, else
SOURCE_UNAVAILABLE with the reason ("check by hand"), rather than RESOURCE_EXHAUSTED: the
clerk's question is fine, the department is saturated, and a case check carries on with the
other departments. A token wait that the deadline cannot cover is refused at once; a slot
wait cannot be predicted and is bounded by the deadline.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from connectors.base.errors import UpstreamError


class BulkheadFull(UpstreamError):
    """A local limit (concurrency or quota) left no room for the call within its deadline."""


@dataclass(frozen=True)
class BulkheadPolicy:
    max_concurrent: int = 32
    rate_per_second: float = math.inf  # the department's quota; inf: none
    burst: int = 10


class TokenBucket:
    """Tokens refill at `rate` per second up to `capacity`. A reservation may run the bucket
    into debt; the debt is the time the caller must wait for its turn."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self._updated = clock()

    def reserve(self, max_wait: float) -> float | None:
        """Take one token; return how long to wait before using it, or None (nothing taken)
        when that wait would exceed `max_wait`."""
        if math.isinf(self.rate):
            return 0.0
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now
        wait = max(0.0, (1 - self.tokens) / self.rate)
        if wait > max_wait:
            return None
        self.tokens -= 1
        return wait


class Bulkhead:
    """Concurrency limit and request quota of one connector. `in_flight`, `waiting` and
    `refused` are read by metrics."""

    def __init__(self, name: str, policy: BulkheadPolicy = BulkheadPolicy()) -> None:
        self.name = name
        self.policy = policy
        self._slots = asyncio.Semaphore(policy.max_concurrent)
        self.quota = TokenBucket(policy.rate_per_second, policy.burst)
        self.in_flight = 0
        self.waiting = 0
        self.refused = 0

    @contextlib.asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[None]:
        """Hold one of the department's concurrency slots, waiting at most until `deadline`
        (event-loop time)."""
        self.waiting += 1
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            self.refused += 1
            raise BulkheadFull(f"{self.name}: {self.policy.max_concurrent} calls already in flight; "
                               "no slot freed within the deadline") from None
        finally:
            self.waiting -= 1
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()

    async def take_token(self, deadline: float) -> None:
        """Wait for the department's quota to allow one more request, or refuse at once when
        that wait would outlast `deadline`."""
        loop = asyncio.get_running_loop()
        wait = self.quota.reserve(max_wait=deadline - loop.time())
        if wait is None:
            self.refused += 1
            raise BulkheadFull(f"{self.name}: quota of {self.policy.rate_per_second:g} requests/s "
                               "leaves no turn within the deadline")
        if wait > 0:
            await asyncio.sleep(wait)
