"""Every Prometheus metric of the node, in one place.

Names follow the Prometheus conventions: `querynode_` prefix, base units in the name,
`_total` on counters, histograms for latency. Labels are bounded: operation, door
(grpc/http), code, department, outcome, result. Never a person, a case number, an
operator or a caller-chosen string.

With `PROMETHEUS_MULTIPROC_DIR` set (`querynode serve --workers N` sets it for its workers),
prometheus_client keeps values in memory-mapped files in that directory and `exposition()`
sums them, so any worker's /metrics gives the totals of all. Every gauge names how workers
combine (`multiprocess_mode`: live ones sum, max or min over running workers); the parent
empties the folder at start and marks an ended worker dead (`querynode/workers.py`), never
importing this module, whose metrics would otherwise count the parent as a worker.
"""
from __future__ import annotations

import functools
import os
import platform
import weakref
from importlib import metadata

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

# Latency buckets in seconds; 0.25, 1 and 2.5 are the SLO thresholds the alerts use.
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# ---------------------------------------------------------------- calls at the doors
CALLS = Counter("querynode_calls_total", "Calls answered by the node, by operation, door and result code "
                "(gRPC status code name; the HTTP door maps its status to the same names).",
                ["operation", "door", "code"])
CALL_DURATION = Histogram("querynode_call_duration_seconds", "Time to answer a call at the door.",
                          ["operation", "door"], buckets=_CALL_BUCKETS)
CALLS_IN_FLIGHT = Gauge("querynode_calls_in_flight", "Calls being answered right now.", ["door"],
                        multiprocess_mode="livesum")

# ---------------------------------------------------------------- departments
QUERIES = Counter("querynode_queries_total", "Lookups through the hub by department and outcome "
                  "(ANSWERED, CACHE_HIT, STALE, SOURCE_UNAVAILABLE or the refusal reason).",
                  ["department", "outcome"])
UPSTREAM_CALLS = Counter("querynode_upstream_calls_total", "Attempts sent to a department, by outcome "
                         "(ok or the connector error kind).", ["department", "outcome"])
UPSTREAM_DURATION = Histogram("querynode_upstream_call_duration_seconds", "Time of one attempt at a department.",
                              ["department"], buckets=_CALL_BUCKETS)
RETRIES = Counter("querynode_upstream_retries_total", "Attempts beyond the first sent to a department.",
                  ["department"])
RETRY_BUDGET_EXHAUSTED = Counter("querynode_retry_budget_exhausted_total",
                                 "Retries not made because the department's retry budget was spent.",
                                 ["department"])
BREAKER_REJECTIONS = Counter("querynode_breaker_rejections_total",
                             "Calls refused by an open circuit breaker without asking the department.",
                             ["department"])
BREAKER_STATE = Gauge("querynode_breaker_state", "Circuit breaker per department: 0 closed, 1 half-open, 2 open.",
                      ["department"], multiprocess_mode="livemax")
BULKHEAD_QUEUED = Gauge("querynode_bulkhead_queued_calls", "Calls waiting for a department's bulkhead slot.",
                        ["department"], multiprocess_mode="livesum")
BULKHEAD_REJECTIONS = Counter("querynode_bulkhead_rejections_total",
                              "Calls refused because a department's bulkhead was full.", ["department"])

# ---------------------------------------------------------------- cache
CACHE_HITS = Counter("querynode_cache_hits_total", "Answers served fresh from the cache.", ["department"])
CACHE_MISSES = Counter("querynode_cache_misses_total", "Cache lookups that had to ask the department.",
                       ["department"])
CACHE_STALE_SERVED = Counter("querynode_cache_stale_served_total",
                             "Stale cached answers served because the department failed.", ["department"])
CACHE_BACKEND_ERRORS = Counter("querynode_cache_backend_errors_total",
                               "Cache backend operations that failed (the call goes on without the cache).",
                               ["operation"])
COALESCED_WAITS = Counter("querynode_coalesced_waits_total",
                          "Calls that waited for an identical lookup in flight instead of asking again.",
                          ["department"])

# ---------------------------------------------------------------- audit
AUDIT_WRITE_DURATION = Histogram("querynode_audit_write_duration_seconds", "Time to append one audit record.",
                                 buckets=_STORE_BUCKETS)
AUDIT_WRITE_FAILURES = Counter("querynode_audit_write_failures_total",
                               "Audit records that could not be written (the call was refused).")
AUDIT_STORE_WRITABLE = Gauge("querynode_audit_store_writable", "1 when the audit store accepts records, else 0.",
                             multiprocess_mode="livemin")
TOKENS_VALID = Gauge("querynode_tokens_valid", "Bearer tokens that have not expired (security.tokens_file).",
                     multiprocess_mode="livemax")
TOKENS_EXPIRING_SOON = Gauge("querynode_tokens_expiring_soon",
                             "Bearer tokens that expire within 14 days: rotate them (querynode token rotate).",
                             multiprocess_mode="livemax")
ABUSE_FLAGS = Counter("querynode_abuse_flags_total",
                      "Lookups answered but flagged in their audit record by abuse detection, by reason "
                      "(querynode/security/abuse.py); never by operator.", ["reason"])
TLS_HANDSHAKE_FAILURES = Counter("querynode_tls_handshake_failures_total",
                                 "TLS handshakes refused or abandoned at the HTTP door, by reason (certificate, "
                                 "protocol, timeout, reset); the log line names the peer address.",
                                 ["door", "reason"])

# ---------------------------------------------------------------- the node itself
BUILD_INFO = Gauge("querynode_build_info", "Always 1; labels say which build runs.", ["version", "python_version"],
                   multiprocess_mode="max")

BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def _version() -> str:
    try:
        return metadata.version("querynode")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(_version(), platform.python_version()).set(1)


@functools.cache
def child(metric, *labels: str):
    """`metric.labels(*labels)`, looked up once per label set: labels() takes a lock and
    validates on every call. Label values are bounded (see above), and so is this cache."""
    return metric.labels(*labels)


# What the resilience stages had counted when last read, per stage object: their counters
# are plain integers, the metrics advance by the difference.
_seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _advance(counter: Counter, department: str, owner: object, attribute: str) -> None:
    now = getattr(owner, attribute)
    before = _seen.setdefault(owner, {}).get(attribute, 0)
    if now > before:
        child(counter, department).inc(now - before)
    _seen[owner][attribute] = now


def record_guards(department: str, guards) -> None:
    """Bring the breaker, bulkhead and retry-budget metrics of one department up to date
    with its resilience state (`querynode.core.hub.Guards`); called after every upstream
    call and before every scrape."""
    breaker, bulkhead, budget = guards.breaker, guards.bulkhead, guards.retry_budget
    child(BREAKER_STATE, department).set(BREAKER_STATES.get(str(breaker.state), 2))
    _advance(BREAKER_REJECTIONS, department, breaker, "rejected")
    child(BULKHEAD_QUEUED, department).set(bulkhead.waiting)
    _advance(BULKHEAD_REJECTIONS, department, bulkhead, "refused")
    _advance(RETRY_BUDGET_EXHAUSTED, department, budget, "denied")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric (summed over worker processes in multiprocess mode)."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

