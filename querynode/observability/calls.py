"""Observing calls: the doors open one `CallObservation` per call; the hub and its stages
report into it and into the metrics through the small functions here.

One call gives one JSON log line (logger `querynode.calls`) with request id, door, caller,
operation, code, outcome and latency, and moves `querynode_calls_total`,
`querynode_call_duration_seconds` and `querynode_calls_in_flight`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from connectors.base.errors import UpstreamError
from querynode.observability import metrics
from querynode.observability.logs import REQUEST_ID
from querynode.observability.stages import stage

log = logging.getLogger("querynode.calls")

_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# A request id shaped like a resident ID number (15 digits, or 17 and a digit or X) is personal
# data offered where none belongs: it is replaced, never logged.
_ID_NUMBER_SHAPE = re.compile(r"(?<!\d)(\d{17}[\dXx]|\d{15})(?![\dXx])")


def _plain_token(offered: str | None) -> bool:
    return bool(offered) and _REQUEST_ID_PATTERN.fullmatch(offered) is not None \
        and _ID_NUMBER_SHAPE.search(offered) is None


def accept_request_id(offered: str | None) -> str:
    """The caller's request id when it is a plain token (<= 64 of A-Z a-z 0-9 . _ : -, not
    shaped like an ID number), otherwise a new one: arbitrary text would go into logs and
    department headers."""
    if _plain_token(offered):
        return offered
    return uuid.uuid4().hex


def request_id_for(offered: str | None) -> str:
    """The request id of the call being served. A valid id offered in the request body
    becomes the call's id (the doors started the call with the header's or a new one)."""
    record = _CURRENT.get()
    if _plain_token(offered):
        if record is not None and record.request_id != offered:
            record.request_id = offered
            REQUEST_ID.set(offered)
        return offered
    return record.request_id if record is not None else uuid.uuid4().hex


@dataclass
class CallRecord:
    request_id: str
    door: str
    operation: str
    caller: str = ""
    outcome: str = ""
    code: str = "OK"


_CURRENT: ContextVar[CallRecord | None] = ContextVar("querynode_call", default=None)


@contextlib.contextmanager
def observe_call(door: str, operation: str, request_id: str) -> Iterator[CallRecord]:
    """Observe one call at a door. The door sets `record.code` (a gRPC status code name)
    when the call fails; an exception leaving the block without one counts as INTERNAL."""
    record = CallRecord(request_id=request_id, door=door, operation=operation)
    call_token = _CURRENT.set(record)
    id_token = REQUEST_ID.set(request_id)
    in_flight = metrics.child(metrics.CALLS_IN_FLIGHT, door)
    in_flight.inc()
    started = time.perf_counter()
    try:
        yield record
    except asyncio.CancelledError:
        if record.code == "OK":
            record.code = "CANCELLED"
        raise
    except BaseException:
        if record.code == "OK":
            record.code = "INTERNAL"
        raise
    finally:
        elapsed = time.perf_counter() - started
        with stage("metrics"):
            in_flight.dec()
            metrics.child(metrics.CALLS, operation, door, record.code).inc()
            metrics.child(metrics.CALL_DURATION, operation, door).observe(elapsed)
        with stage("logging"):
            log.info("call", extra={
                "door": door, "caller": record.caller, "operation": operation, "code": record.code,
                "outcome": record.outcome or record.code, "latency_ms": round(elapsed * 1000, 3),
            })
        REQUEST_ID.reset(id_token)
        _CURRENT.reset(call_token)


def query_done(operation: str, department: str, caller: str, outcome: str) -> None:
    """The hub answered or refused one lookup (outcome: ANSWERED, CACHE_HIT, STALE,
    SOURCE_UNAVAILABLE or the refusal reason)."""
    metrics.child(metrics.QUERIES, department, outcome).inc()
    record = _CURRENT.get()
    if record is not None:
        record.caller = record.caller or caller
        if record.operation == operation:
            record.outcome = outcome


@contextlib.contextmanager
def upstream_attempt(department: str, attempt: int, deadline: float) -> Iterator[None]:
    """Observe one attempt at a department (attempt counts from 1; later ones are retries).
    `deadline` is the loop time the retry stage cancels the attempt at, so a cancellation
    then is a timeout and any other one the caller going away."""
    if attempt > 1:
        metrics.child(metrics.RETRIES, department).inc()
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except UpstreamError as exc:
        outcome = _snake(type(exc).__name__)
        raise
    except asyncio.CancelledError:
        outcome = "timeout" if asyncio.get_running_loop().time() >= deadline - 0.001 else "cancelled"
        raise
    finally:
        metrics.child(metrics.UPSTREAM_CALLS, department, outcome).inc()
        metrics.child(metrics.UPSTREAM_DURATION, department).observe(time.perf_counter() - started)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
