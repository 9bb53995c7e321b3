"""Stage 6: retry transient department failures, never past the caller's deadline."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from connectors.base.errors import RateLimited, Timeout, UpstreamError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_backoff: float = 0.05
    max_backoff: float = 1.0


class RetryBudget:
    """Retry credits of one connector, so that retries add at most about `ratio` extra load
    when the department is down: every call earns `ratio` of a credit, every retry spends
    one; at most `max_credits` are saved up (they allow retries at low traffic)."""

    def __init__(self, ratio: float = 0.1, max_credits: float = 10.0) -> None:
        self.ratio = ratio
        self.max_credits = max_credits
        self.credits = max_credits
        self.denied = 0  # retries not made for want of credit; read by metrics

    def earn(self) -> None:
        self.credits = min(self.max_credits, self.credits + self.ratio)

    def spend(self) -> bool:
        if self.credits < 1:
            self.denied += 1
            return False
        self.credits -= 1
        return True


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.transient


async def call_with_retry(
    policy: RetryPolicy, deadline: float, attempt: Callable[[float], Awaitable[Any]],
    budget: RetryBudget | None = None,
) -> Any:
    """Run `attempt(timeout)` until it succeeds, fails permanently, runs out of attempts,
    of time or of retry budget. The last error is raised as is."""
    loop = asyncio.get_running_loop()
    if budget is not None:
        budget.earn()
    backoff = wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff(state)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay

    def out_of_time(state: RetryCallState) -> bool:
        # Stop when the next wait would leave less than a useful slice of the deadline.
        return loop.time() + (state.upcoming_sleep or 0) >= deadline - 0.01

    def stop(state: RetryCallState) -> bool:
        return (stop_after_attempt(policy.max_attempts)(state) or out_of_time(state)
                or (budget is not None and not budget.spend()))

    async def once() -> Any:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise Timeout("no time left within the call's deadline")
        try:
            async with asyncio.timeout(remaining):
                return await attempt(remaining)
        except TimeoutError:
            raise Timeout("no answer in time: the call's deadline passed") from None

    # The first attempt runs without the retry machinery: most calls need no retry, and
    # tenacity's bookkeeping cost about 100 µs of the event loop per department call.
    try:
        return await once()
    except UpstreamError as exc:
        if not _is_transient(exc):
            raise
        failed: list[UpstreamError] = [exc]

    # A retry: tenacity takes over as if it had made the first attempt (the failure is
    # replayed as its attempt 1), so attempts, waits, stop and budget count as before.
    retrying = AsyncRetrying(retry=retry_if_exception(_is_transient), wait=wait, stop=stop, reraise=True)
    async for attempt_state in retrying:
        with attempt_state:
            if failed:
                raise failed.pop()
            return await once()
