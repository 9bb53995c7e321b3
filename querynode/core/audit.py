"""Stage 3: every query, answered or refused, leaves one audit record before its answer.

The node fails closed: when the record cannot be written, the caller gets
AUDIT_UNAVAILABLE instead of the answer.
"""
from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Protocol

from querynode.domain.errors import AuditUnavailable, QueryError
from querynode.domain.model import RequestContext
from querynode.observability import metrics
from querynode.security.audit_store import DOOR_OPERATIONS, AuditRecord
from querynode.security.door import RefusalGate

log = logging.getLogger("querynode.audit")

# Set by the doors for the call being served: its source address, and whether a record of it
# was written (a door audits a refusal the hub never saw, e.g. a 400 before the hub).
_SOURCE: ContextVar[str] = ContextVar("querynode_call_source", default="")
_AUDITED: ContextVar[list | None] = ContextVar("querynode_call_audited", default=None)
UNAUTHENTICATED_CALLER = "(unauthenticated)"
REFUSED_CALLS = DOOR_OPERATIONS[1]  # the operation of a per-source, per-minute summary record


@contextlib.contextmanager
def call_scope(source: str) -> Iterator[None]:
    """Around one call at a door: records written within it carry `source`."""
    tokens = _SOURCE.set(source), _AUDITED.set([False])
    try:
        yield
    finally:
        _AUDITED.reset(tokens[1])
        _SOURCE.reset(tokens[0])


def call_audited() -> bool:
    """True when a record of the current call was written (within call_scope)."""
    flag = _AUDITED.get()
    return bool(flag and flag[0])


def call_source() -> str:
    return _SOURCE.get()


class Refusal(QueryError):
    """A refusal named by its outcome, for the audit record of a call the hub never saw (a
    door's 400, an undecodable message, a login)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuditStore(Protocol):
    async def append(self, record: AuditRecord) -> None: ...
    async def writable(self) -> bool: ...


class AuditTrail:
    def __init__(self, store: AuditStore, refusals: RefusalGate | None = None) -> None:
        self.store = store
        self.refusals = refusals or RefusalGate()
        on_close = getattr(store, "on_close", None)
        if on_close is not None:  # the last summaries are written before the store closes
            on_close.append(lambda: self.write_summaries(everything=True))

    async def record(
        self, *, audit_id: str, ctx: RequestContext, operation: str, department: str,
        subject_index: str, outcome: str, latency_ms: float, flags: str = "", subject: str = "",
    ) -> None:
        record = AuditRecord(
            audit_id=audit_id, at=datetime.now(UTC).isoformat(), request_id=storable(ctx.request_id),
            caller=storable(ctx.caller), operator_id=storable(ctx.operator_id),
            case_number=storable(ctx.case_number), purpose=storable(ctx.purpose), operation=operation,
            department=department, subject_index=subject_index, outcome=outcome,
            latency_ms=round(latency_ms, 3), flags=flags, source=storable(_SOURCE.get()),
            subject=storable(subject),
        )
        await self._append(record)
        flag = _AUDITED.get()
        if flag is not None:
            flag[0] = True

    async def record_refusal(self, ctx: RequestContext, operation: str, department: str, exc: QueryError) -> None:
        """A call refused at the door before a caller is known: audited on its own while its
        source stays under REFUSALS_AUDITED_EACH a minute, else counted into the minute's
        summary record. Best effort: the refusal stands either way."""
        admitted = self.refusals.admit(_SOURCE.get())
        try:
            if admitted:
                await self.record(audit_id=uuid.uuid4().hex, ctx=ctx, operation=operation, department=department,
                                  subject_index="", outcome=exc.reason, latency_ms=0.0)
            else:
                flag = _AUDITED.get()
                if flag is not None:
                    flag[0] = True  # on record in the summary
            await self.write_summaries()
        except QueryError:
            pass

    async def record_at_door(self, ctx: RequestContext, operation: str, department: str, outcome: str) -> None:
        """A call a door answered without the hub (a 400, an undecodable message, a login):
        on record like any other when its caller is known, else through record_refusal.
        Best effort: the door's answer stands either way."""
        if ctx.caller == UNAUTHENTICATED_CALLER:
            await self.record_refusal(ctx, operation, department, Refusal(outcome))
            return
        try:
            await self.record(audit_id=uuid.uuid4().hex, ctx=ctx, operation=operation, department=department,
                              subject_index="", outcome=outcome, latency_ms=0.0)
        except QueryError:
            pass

    async def write_summaries(self, *, everything: bool = False) -> None:
        """One record per source and ended minute: how many refusals were only counted."""
        for summary in self.refusals.due(everything=everything):
            minute = datetime.fromtimestamp(summary.minute_start, UTC).isoformat()
            await self._append(AuditRecord(
                audit_id=uuid.uuid4().hex, at=datetime.now(UTC).isoformat(), request_id="",
                caller=UNAUTHENTICATED_CALLER, operator_id="", case_number="",
                purpose=f"{summary.count} refusals counted in the minute from {minute}",
                operation=REFUSED_CALLS, department="", subject_index="", outcome="UNAUTHENTICATED",
                latency_ms=0.0, source=storable(summary.source)))

    async def _append(self, record: AuditRecord) -> None:
        audit_id = record.audit_id
        started = time.perf_counter()
        try:
            await self.store.append(record)
        except Exception as exc:
            metrics.AUDIT_WRITE_FAILURES.inc()
            log.error("audit write failed", extra={"audit_id": audit_id, "error": type(exc).__name__})
            raise AuditUnavailable("the audit trail cannot record this query; no answer is released") from exc
        metrics.AUDIT_WRITE_DURATION.observe(time.perf_counter() - started)


def storable(text: str) -> str:
    """Caller-given text as the audit store can keep it: lone surrogates and NUL written as
    escapes (`\\ud800`, `\\x00`), so even a call that validation lets through with such text is
    on record (the store refuses records it cannot encode, failing that call alone)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode()
    return text.replace("\0", "\\x00") if "\0" in text else text
