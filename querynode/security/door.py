"""What the doors know about the network before a caller is known: the source address (proxy
headers trusted only from configured proxies), refused unauthenticated traffic per source
(rate-limited and summarised before it reaches the audit store) and failed logins per source.

The red team posted `{}` without a token 11,816 times in 10 s: each refusal was a durable
audit record. Now, per source address and minute, the first REFUSALS_AUDITED_EACH refusals are
audited one by one, the rest are counted into one summary record, and beyond
REFUSALS_PER_MINUTE a request without credentials is refused at once (429 /
RESOURCE_EXHAUSTED) without authenticating it.
"""
from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

REFUSALS_AUDITED_EACH = 10  # per source and minute; the rest go into the minute's summary
REFUSALS_PER_MINUTE = 60  # per source: beyond this, requests without credentials get 429 at once
LOGIN_FAILURES = 10  # per source within LOGIN_WINDOW_SECONDS: further logins get 429
LOGIN_WINDOW_SECONDS = 15 * 60
_MAX_SOURCES = 100_000  # bounded memory under a spoofed-source flood


def parse_networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies) -> str:
    """The caller's address: the peer, or, when the peer is a trusted proxy, the last address
    in X-Forwarded-For that is not itself a trusted proxy (the header's earlier entries are
    whatever the client wrote)."""
    peer = (peer or "").strip()
    if not forwarded_for or not within(peer, trusted_proxies):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        if not _valid_ip(hop):
            return peer  # a header the proxy did not write: not to be trusted
        if not within(hop, trusted_proxies):
            return hop
    return peer


def grpc_peer_address(peer: str | None) -> str:
    """`ipv4:10.0.0.7:51234` / `ipv6:[::1]:51234` -> the IP address."""
    if not peer:
        return ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return rest[1:rest.find("]")]
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return kind if not rest else rest[:64]


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def within(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


@dataclass
class _Minute:
    minute: int
    refused: int = 0
    summarised: int = 0  # refusals counted only (not audited one by one)


@dataclass(frozen=True)
class RefusalSummary:
    source: str
    minute_start: float  # epoch seconds
    count: int


class RefusalGate:
    """Refused unauthenticated calls per source address and minute (wall clock)."""

    def __init__(self, *, audited_each: int = REFUSALS_AUDITED_EACH, per_minute: int = REFUSALS_PER_MINUTE,
                 clock: Callable[[], float] = time.time) -> None:
        self.audited_each = audited_each
        self.per_minute = per_minute
        self.clock = clock
        self._sources: dict[str, _Minute] = {}
        self._due: list[RefusalSummary] = []

    def _bucket(self, source: str) -> _Minute:
        minute = int(self.clock() // 60)
        bucket = self._sources.get(source)
        if bucket is None or bucket.minute != minute:
            if bucket is not None and bucket.summarised:
                self._due.append(RefusalSummary(source, bucket.minute * 60.0, bucket.summarised))
            if len(self._sources) >= _MAX_SOURCES and source not in self._sources:
                self._expire(minute)
            bucket = self._sources[source] = _Minute(minute)
        return bucket

    def _expire(self, minute: int) -> None:
        for source, bucket in list(self._sources.items()):
            if bucket.minute != minute:
                if bucket.summarised:
                    self._due.append(RefusalSummary(source, bucket.minute * 60.0, bucket.summarised))
                del self._sources[source]

    def over_limit(self, source: str) -> bool:
        """True when this source was refused REFUSALS_PER_MINUTE times this minute: refuse it
        without authenticating (and count that refusal with `admit`)."""
        return self._bucket(source).refused >= self.per_minute

    def admit(self, source: str) -> bool:
        """Count one refusal; True when it is to be audited on its own, False when it only
        goes into the minute's summary."""
        bucket = self._bucket(source)
        bucket.refused += 1
        if bucket.refused <= self.audited_each:
            return True
        bucket.summarised += 1
        return False

    def due(self, *, everything: bool = False) -> list[RefusalSummary]:
        """Summaries of minutes that have ended (all of them with `everything`: at close)."""
        self._expire(int(self.clock() // 60) if not everything else -1)
        due, self._due = self._due, []
        return due


class LoginThrottle:
    """Failed logins per source address over a sliding window (bounded memory)."""

    def __init__(self, *, failures: int = LOGIN_FAILURES, window_seconds: float = LOGIN_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.window_seconds = window_seconds
        self.clock = clock
        self._failed: dict[str, list[float]] = {}

    def _recent(self, source: str) -> list[float]:
        now = self.clock()
        times = [t for t in self._failed.get(source, ()) if t > now - self.window_seconds]
        if times:
            self._failed[source] = times
        else:
            self._failed.pop(source, None)
        return times

    def blocked(self, source: str) -> bool:
        return len(self._recent(source)) >= self.failures

    def failed(self, source: str) -> None:
        if len(self._failed) >= _MAX_SOURCES and source not in self._failed:
            for other in list(self._failed):
                self._recent(other)
        self._failed.setdefault(source, []).append(self.clock())
