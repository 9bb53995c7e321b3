"""The hub: the one path every query takes, whatever door it came in by.

    validate -> authorize -> audit -> cache / single-flight -> breaker -> bulkhead
    -> retry (each attempt within the department's quota) -> connector

Each stage lives in its own module; this file only puts them in order.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connectors.base import CallInfo, Connector, UpstreamError
from querynode.core.audit import AuditTrail
from querynode.core.breaker import CircuitBreaker
from querynode.core.bulkhead import Bulkhead
from querynode.core.cache import ResultCache
from querynode.core.coalescing import SingleFlight
from querynode.core.operations import Operation, operation_for
from querynode.core.retry import RetryBudget, RetryPolicy, call_with_retry
from querynode.core.validate import validate_context, validate_query
from querynode.domain.errors import QueryError
from querynode.domain.model import Answer, Provenance, RequestContext
from querynode.observability import metrics
from querynode.observability.calls import query_done, upstream_attempt
from querynode.observability.stages import stage
from querynode.security.abuse import PERSON_FIELDS, AbuseDetector
from querynode.security.audit_store import INTENT
from querynode.security.authorization import Authorizer
from querynode.security.blind_index import BlindIndex, subject_of

log = logging.getLogger("querynode.hub")


@dataclass(frozen=True)
class Fetched:
    """What the upstream stages produced: a result or the reason there is none."""

    result: Any
    source_time: datetime | None
    from_cache: bool = False
    age_seconds: float = 0.0
    stale: bool = False
    unavailable_reason: str = ""


@dataclass(frozen=True)
class Guards:
    """The resilience state kept per connector; metrics read its counters and breaker state."""

    breaker: CircuitBreaker
    bulkhead: Bulkhead
    retry_budget: RetryBudget

    @classmethod
    def default(cls, name: str) -> Guards:
        return cls(CircuitBreaker(name), Bulkhead(name), RetryBudget())


class Hub:
    def __init__(
        self, *, connectors: Mapping[str, Connector], audit: AuditTrail, cache: ResultCache,
        authorizer: Authorizer, index: BlindIndex, retry: RetryPolicy = RetryPolicy(),
        guards: Mapping[str, Guards] | None = None, default_deadline_seconds: float = 5.0,
        abuse: AbuseDetector | None = None,
    ) -> None:
        self.connectors = dict(connectors)
        self.guards = {dept: (guards or {}).get(dept) or Guards.default(dept) for dept in self.connectors}
        self.audit = audit
        self.cache = cache
        self.authorizer = authorizer
        self.index = index
        self.retry = retry
        self.default_deadline_seconds = default_deadline_seconds
        self.single_flight = SingleFlight()
        self.abuse = abuse  # flags (does not refuse) operators browsing persons outside their cases

    async def execute(self, ctx: RequestContext, query: Any) -> Answer:
        """Answer one lookup. Raises QueryError subclasses for refused calls; a department
        failure is an answer without result (SOURCE_UNAVAILABLE), not an error."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        op = operation_for(query)
        audit_id = uuid.uuid4().hex
        deadline = _upstream_deadline(loop.time(), ctx.deadline, self.default_deadline_seconds)
        subject = shown = flags = ""  # blind index; masked as the form heads it (history)
        audit_ctx = None  # the validated context; a refused one is on record as "(invalid)"
        try:
            with stage("validation"):
                ctx = audit_ctx = validate_context(ctx)
                query, warnings = validate_query(query)
            with stage("blind_index"):
                digests = subject_of(self.index, op.name, query)
                subject = digests.index
                shown = op.form.subject(query)
            with stage("authorization"):
                self.authorizer.check(ctx, op.scope, op.department)
            with stage("abuse"):
                flags = self.abuse.observe(ctx, digests.of(PERSON_FIELDS)) if self.abuse else ""

            async def intent() -> None:  # on record before any department is asked (linked by audit id)
                await self._audit(f"{audit_id}-intent", ctx, op, (subject, shown), INTENT, started, flags, done=False)

            fetched = await self._fetch(op, ctx, query, digests.query, deadline, intent)
            outcome = _outcome(fetched)
        except QueryError as exc:
            await self._audit(audit_id, audit_ctx or _invalid(ctx), op, (subject, shown), exc.reason, started, flags)
            raise
        except asyncio.CancelledError:
            # The caller went away (or its deadline passed) while a department may already have
            # been asked: that lookup is on record too, before the cancellation goes on.
            with contextlib.suppress(QueryError, asyncio.CancelledError):
                await asyncio.shield(self._audit(audit_id, audit_ctx or _invalid(ctx), op, (subject, shown),
                                                 "CANCELLED", started, flags))
            raise
        await self._audit(audit_id, ctx, op, (subject, shown), outcome, started, flags)
        provenance = Provenance(
            department=op.department, source_time=fetched.source_time, audit_id=audit_id,
            request_id=ctx.request_id, from_cache=fetched.from_cache,
            cache_age_seconds=round(fetched.age_seconds, 3), stale=fetched.stale,
            unavailable_reason=fetched.unavailable_reason,
        )
        return Answer(result=fetched.result, provenance=provenance, warnings=tuple(warnings))

    async def _audit(self, audit_id: str, ctx: RequestContext, op: Operation, subject: tuple[str, str],
                     outcome: str, started: float, flags: str = "", *, done: bool = True) -> None:
        """Put the lookup on record; `subject` is (blind index, masked subject)."""
        try:
            with stage("audit" if done else "audit_intent"):  # record build, chain hash, wait for commit
                await self.audit.record(
                    audit_id=audit_id, ctx=ctx, operation=op.name, department=op.department,
                    subject_index=subject[0], outcome=outcome, latency_ms=(time.perf_counter() - started) * 1000,
                    flags=flags, subject=subject[1],
                )
        except QueryError as exc:
            outcome = exc.reason
            raise
        finally:
            if done:
                with stage("metrics"):
                    query_done(op.name, op.department, ctx.caller, outcome)

    async def _fetch(self, op: Operation, ctx: RequestContext, query: Any, digest: str, deadline: float,
                     intent) -> Fetched:
        """Cache, then single-flight, then the department; stale answer if it fails. `intent`
        writes the intent record; it is awaited just before a department is asked."""
        if not self.cache.enabled(op):
            return await self._upstream_or_unavailable(op, ctx, query, deadline, stale=None, intent=intent)
        with stage("cache"):
            key = self.cache.key(op, digest)
            # A fresh lookup takes no cached answer: the cache is read only if the department fails.
            hit = None if ctx.fresh else await self.cache.get(op, key, deadline)
        if hit is not None and hit.fresh:
            with stage("metrics"):
                metrics.child(metrics.CACHE_HITS, op.department).inc()
            return Fetched(hit.result, hit.source_time, from_cache=True, age_seconds=hit.age_seconds)
        with stage("metrics"):
            metrics.child(metrics.CACHE_MISSES, op.department).inc()

        async def stale() -> Any:  # the answer to serve, marked stale, when the department fails
            return await self.cache.get(op, key, deadline) if ctx.fresh else hit

        async def fill() -> Fetched:
            fetched = await self._upstream_or_unavailable(op, ctx, query, deadline, stale=stale, intent=intent)
            # An asynchronous source's "not ready yet" (PENDING) is an answer for now, never one to reuse.
            if fetched.result is not None and not fetched.from_cache and op.verdict(fetched.result) != "PENDING":
                with stage("cache_put"):
                    await self.cache.put(op, key, fetched.result, fetched.source_time, deadline)
            return fetched

        flight_key = key + (":fresh" if ctx.fresh else "")
        return await self.single_flight.run(
            flight_key, fill, on_wait=metrics.child(metrics.COALESCED_WAITS, op.department).inc)

    async def _upstream_or_unavailable(self, op: Operation, ctx: RequestContext, query: Any,
                                       deadline: float, stale, intent) -> Fetched:
        connector = self.connectors.get(op.department)
        if connector is None:
            return Fetched(None, None, unavailable_reason=f"{op.department}: no connector configured")
        await intent()
        guards = self.guards[op.department]
        attempts = itertools.count(1)
        loop = asyncio.get_running_loop()

        async def attempt(_timeout: float) -> Any:
            await guards.bulkhead.take_token(deadline)
            with upstream_attempt(op.department, next(attempts), deadline):
                return await connector.lookup(query, CallInfo(
                    request_id=ctx.request_id, case_number=ctx.case_number,
                    operator_id=ctx.operator_id, timeout=deadline - loop.time()))

        async def guarded() -> Any:
            async with guards.bulkhead.slot(deadline):
                return await call_with_retry(self.retry, deadline, attempt, guards.retry_budget)

        try:
            with stage("connector"):
                result = await guards.breaker.call(guarded)
        except UpstreamError as exc:
            log.warning("department failed", extra={"department": op.department,
                                                     "error": type(exc).__name__, "request_id": ctx.request_id})
            hit = await stale() if stale is not None else None
            if hit is not None:
                metrics.child(metrics.CACHE_STALE_SERVED, op.department).inc()
                return Fetched(hit.result, hit.source_time, from_cache=True,
                               age_seconds=hit.age_seconds, stale=True, unavailable_reason=exc.message)
            return Fetched(None, None, unavailable_reason=exc.message)
        finally:
            with stage("metrics"):
                metrics.record_guards(op.department, guards)
        return Fetched(result, datetime.now(UTC))


def _upstream_deadline(now: float, caller_deadline: float | None, default_seconds: float) -> float:
    """The time by which the upstream stages must be done: the caller's deadline (or the
    default budget) less a reserve for auditing and sending the answer."""
    deadline = caller_deadline if caller_deadline is not None else now + default_seconds
    reserve = min(0.2, 0.1 * max(0.0, deadline - now))
    return deadline - reserve


def _invalid(ctx: RequestContext) -> RequestContext:
    """What a refused call's record says of a context that did not pass validation."""
    return replace(ctx, case_number="(invalid)", operator_id="(invalid)", purpose="(invalid)")


def _outcome(fetched: Fetched) -> str:
    if fetched.result is None:
        return "SOURCE_UNAVAILABLE"
    if fetched.stale:
        return "STALE"
    return "CACHE_HIT" if fetched.from_cache else "ANSWERED"


def new_request_id() -> str:
    return uuid.uuid4().hex

