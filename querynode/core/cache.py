"""Stage 4: answers kept for a per-department time, under keyed-hash keys.

Entries live for ttl + stale_max_age: within ttl they are served as cache hits; after
that only as a stale answer when the department fails (stale-if-error).
Values are JSON of the domain result plus its source time, sealed with the field cipher
(AES-256-GCM or SM4-GCM, bound to the cache key): results carry names and ID numbers.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiocache import SimpleMemoryCache
from aiocache.base import BaseCache
from aiocache.serializers import NullSerializer

from connectors.base.errors import Unavailable, UpstreamError
from querynode.core.breaker import BreakerPolicy, CircuitBreaker, CircuitOpen
from querynode.core.operations import Operation
from querynode.domain.codec import from_data, to_data
from querynode.observability import metrics
from querynode.security.field_crypto import FieldCipher, FieldCryptoError

log = logging.getLogger("querynode.cache")
# A cache call may take at most this long, and at most BACKEND_BUDGET_SHARE of what is left
# of the call's deadline; a slower one counts as failed and the department is asked instead.
BACKEND_TIMEOUT_SECONDS = 0.2
BACKEND_BUDGET_SHARE = 0.25
# After this many failed cache calls in a row the backend is skipped (no cache, departments
# asked directly) for the cool-down; then one call probes it.
BACKEND_BREAKER = BreakerPolicy(consecutive_failures=3, min_calls=1_000_000, cool_down_seconds=5.0)
_NO_TIME = object()  # what a cache call returns when the call's deadline leaves it no time


class BoundedMemoryCache(SimpleMemoryCache):
    """aiocache's in-memory backend with a maximum number of entries (oldest out first)."""

    def __init__(self, max_entries: int = 100_000, **kwargs: Any) -> None:
        super().__init__(serializer=NullSerializer(), **kwargs)
        self.max_entries = max_entries

    async def _set(self, key, value, ttl=None, _cas_token=None, _conn=None):
        while len(self._cache) >= self.max_entries and key not in self._cache:
            oldest = next(iter(self._cache))
            await self._delete(oldest)
        return await super()._set(key, value, ttl=ttl, _cas_token=_cas_token, _conn=_conn)


@dataclass(frozen=True)
class CacheHit:
    result: Any
    source_time: datetime
    age_seconds: float
    fresh: bool  # within the department's ttl


class ResultCache:
    def __init__(
        self, backend: BaseCache, ttl_seconds: Mapping[str, float],
        stale_max_age_seconds: float, cipher: FieldCipher,
    ) -> None:
        self.backend = backend
        self.cipher = cipher
        self.ttl_seconds = dict(ttl_seconds)
        self.stale_max_age_seconds = stale_max_age_seconds
        self.backend_ok = True  # False from a failed backend call until one succeeds; health reads it
        self.breaker = CircuitBreaker("cache", BACKEND_BREAKER)
        # The in-process backend neither waits nor goes down: it is called without the timeout
        # and breaker a networked one needs (their timer costs more than the lookup itself).
        self.in_process = isinstance(backend, SimpleMemoryCache)

    def key(self, op: Operation, query_digest: str) -> str:
        """The entry's key: the department and the query's keyed digest (blind_index.Subject)."""
        return f"qn:v1:{op.department}:{query_digest}"

    def enabled(self, op: Operation) -> bool:
        return self.ttl_seconds.get(op.department, 0) > 0

    async def _call(self, operation: str, deadline: float | None, fn: Callable[[], Awaitable[Any]]) -> Any:
        """One backend call, bounded by BACKEND_TIMEOUT_SECONDS and a share of the call's
        deadline, behind the cache's breaker. Raises UpstreamError (CircuitOpen: skipped)."""
        if self.in_process:
            return await fn()
        budget = BACKEND_TIMEOUT_SECONDS
        if deadline is not None:
            budget = min(budget, (deadline - asyncio.get_running_loop().time()) * BACKEND_BUDGET_SHARE)
        if budget <= 0.001:  # no time left for the cache: not the backend's failure
            return _NO_TIME

        async def bounded() -> Any:
            try:
                async with asyncio.timeout(budget):
                    return await fn()
            except Exception as exc:  # noqa: BLE001 - any backend failure counts against it
                raise Unavailable(f"cache backend {operation}: {type(exc).__name__}") from exc

        return await self.breaker.call(bounded)

    async def get(self, op: Operation, key: str, deadline: float | None = None) -> CacheHit | None:
        """The entry under key, or None (a miss, or the backend failed, was slow or is skipped)."""
        try:
            raw = await self._call("get", deadline, lambda: self.backend.get(key))
        except UpstreamError as exc:  # a broken cache must not break the call: ask the department
            self._backend_down("get", exc)
            return None
        if raw is _NO_TIME:
            return None
        self._backend_up()
        if raw is None:
            return None
        try:
            entry = orjson.loads(self.cipher.open(raw, aad=key.encode()))
        except FieldCryptoError as exc:  # retired key or tampered value: a miss, never a wrong answer
            _backend_failed("open", exc)
            return None
        age = max(0.0, time.time() - entry["stored_at"])
        return CacheHit(
            result=from_data(op.result_type, entry["result"]),
            source_time=datetime.fromisoformat(entry["source_time"]),
            age_seconds=age,
            fresh=age < self.ttl_seconds.get(op.department, 0),
        )

    async def put(self, op: Operation, key: str, result: Any, source_time: datetime,
                  deadline: float | None = None) -> None:
        entry = {"result": to_data(result), "source_time": source_time.isoformat(), "stored_at": time.time()}
        ttl = self.ttl_seconds.get(op.department, 0) + self.stale_max_age_seconds
        try:
            sealed = self.cipher.seal(orjson.dumps(entry), aad=key.encode())
        except (TypeError, ValueError) as exc:  # not encodable (e.g. a lone surrogate): not kept
            _backend_failed("seal", exc)
            return
        try:
            done = await self._call("set", deadline, lambda: self.backend.set(key, sealed, ttl=ttl))
        except UpstreamError as exc:  # the answer is still good without being kept
            self._backend_down("set", exc)
        else:
            if done is not _NO_TIME:
                self._backend_up()

    def _backend_down(self, operation: str, exc: Exception) -> None:
        """Count every failure (a call the breaker skipped is none: while it is open, its
        probes count); log once per outage, not once per lookup."""
        if not isinstance(exc, CircuitOpen):
            metrics.child(metrics.CACHE_BACKEND_ERRORS, operation).inc()
        if self.backend_ok:
            log.warning("cache backend failed; asking departments directly until it answers again",
                        extra={"error": type(exc).__name__})
        self.backend_ok = False

    def _backend_up(self) -> None:
        if not self.backend_ok:
            log.info("cache backend answers again")
        self.backend_ok = True


def _backend_failed(operation: str, exc: Exception) -> None:
    metrics.child(metrics.CACHE_BACKEND_ERRORS, operation).inc()
    log.warning("cache backend failed; going on without it", extra={"error": type(exc).__name__})
