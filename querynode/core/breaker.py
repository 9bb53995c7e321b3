"""Stage 5: a circuit breaker per connector, so a failing department is not hammered.

    CLOSED --(N consecutive failures, or failure ratio over a window)--> OPEN
    OPEN --(cool-down elapsed)--> HALF_OPEN: a few probe calls go through
    HALF_OPEN --(probe succeeds)--> CLOSED;  --(probe fails)--> OPEN again

While OPEN (and for callers beyond the probes while HALF_OPEN) calls fail fast with
`CircuitOpen` without reaching the department; the hub turns that into a stale answer or
SOURCE_UNAVAILABLE.

A small state machine rather than a library: aiobreaker (last release 2021) and purgatory
count consecutive failures only; neither has a failure ratio over a time window.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from connectors.base.errors import BadUpstream, RateLimited, Timeout, Unavailable, UpstreamError

T = TypeVar("T")

# What counts against a department: it did not answer, or answered outside its protocol.
# A refusal of the request itself (Rejected) says nothing about the department's health.
FAILURES = (Unavailable, Timeout, RateLimited, BadUpstream)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(UpstreamError):
    """The breaker refused the call without asking the department."""


@dataclass(frozen=True)
class BreakerPolicy:
    consecutive_failures: int = 5
    # Opens when at least `min_calls` ended in the last `window_seconds` and this share failed.
    failure_ratio: float = 0.5
    min_calls: int = 20
    window_seconds: float = 30.0
    cool_down_seconds: float = 10.0
    half_open_probes: int = 1


class CircuitBreaker:
    """Breaker of one connector. `state`, `opened`, `rejected` are read by metrics."""

    def __init__(self, name: str, policy: BreakerPolicy = BreakerPolicy(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._outcomes: deque[tuple[float, bool]] = deque()  # (when, failed) within the window
        self._window_failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self.opened = 0  # times the breaker opened
        self.rejected = 0  # calls refused while open

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self.clock() - self._opened_at >= self.policy.cool_down_seconds:
            self._state = BreakerState.HALF_OPEN
            self._probes = 0
        return self._state

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        probe = self._admit()
        try:
            result = await fn()
        except FAILURES:
            self._record(failed=True, probe=probe)
            raise
        except BaseException:
            if probe:  # neither proof of health nor of failure: let another probe try
                self._release_probe()
            raise
        self._record(failed=False, probe=probe)
        return result

    def _admit(self) -> bool:
        """Let the call through (True if it is a half-open probe) or raise CircuitOpen."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and self._probes < self.policy.half_open_probes:
            self._probes += 1
            return True
        self.rejected += 1
        retry_in = max(0.0, self._opened_at + self.policy.cool_down_seconds - self.clock())
        raise CircuitOpen(f"{self.name}: circuit open after repeated failures; next probe in {retry_in:.1f}s")

    def _record(self, *, failed: bool, probe: bool) -> None:
        now = self.clock()
        if probe:
            self._release_probe()
            if self._state is BreakerState.HALF_OPEN:  # another probe may have decided already
                self._open(now) if failed else self._close()
            return
        if self._state is not BreakerState.CLOSED:
            return  # a call let through before the breaker opened: already accounted for
        self._consecutive = self._consecutive + 1 if failed else 0
        self._outcomes.append((now, failed))
        self._window_failures += failed
        while self._outcomes[0][0] < now - self.policy.window_seconds:
            self._window_failures -= self._outcomes.popleft()[1]
        calls = len(self._outcomes)
        if self._consecutive >= self.policy.consecutive_failures or (
            calls >= self.policy.min_calls and self._window_failures / calls >= self.policy.failure_ratio
        ):
            self._open(now)

    def _release_probe(self) -> None:
        self._probes = max(0, self._probes - 1)

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probes = 0
        self.opened += 1

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._outcomes.clear()
        self._window_failures = 0
