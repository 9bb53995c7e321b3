"""Stage 3: every query, answered or refused, leaves one audit record before its answer.

The node fails closed: when the record cannot be written, the caller gets
AUDIT_UNAVAILABLE instead of the answer.
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Protocol

from querynode.domain.errors import AuditUnavailable
from querynode.domain.model import RequestContext
from querynode.observability import metrics
from querynode.security.audit_store import AuditRecord

log = logging.getLogger("querynode.audit")


class AuditStore(Protocol):
    async def append(self, record: AuditRecord) -> None: ...
    async def writable(self) -> bool: ...


class AuditTrail:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def record(
        self, *, audit_id: str, ctx: RequestContext, operation: str, department: str,
        subject_index: str, outcome: str, latency_ms: float, flags: str = "",
    ) -> None:
        record = AuditRecord(
            audit_id=audit_id, at=datetime.now(UTC).isoformat(), request_id=storable(ctx.request_id),
            caller=storable(ctx.caller), operator_id=storable(ctx.operator_id),
            case_number=storable(ctx.case_number), purpose=storable(ctx.purpose), operation=operation,
            department=department, subject_index=subject_index, outcome=outcome,
            latency_ms=round(latency_ms, 3), flags=flags,
        )
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
