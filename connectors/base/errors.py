"""Connector errors, grouped by kind. Transient ones may be retried by the hub.

Messages name the department and what went wrong, never personal data from the request.
"""
from __future__ import annotations


class UpstreamError(Exception):
    """Base: the department did not give a usable answer."""

    transient = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- transient: worth another try within the deadline


class Unavailable(UpstreamError):
    """Could not connect, connection reset, or 5xx / maintenance."""

    transient = True


class Timeout(UpstreamError):
    """The department did not answer within the time the call allowed."""

    transient = True


class RateLimited(UpstreamError):
    """The department's quota refused the call (HTTP 429); retry_after in seconds if given."""

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- permanent: another try gives the same


class BadUpstream(UpstreamError):
    """The reply broke the department's protocol (malformed, truncated, unknown codes)."""


class Undecided(UpstreamError):
    """The department answered within its protocol, with something the node does not judge (a
    status text it does not know, a record that cannot be told held or withdrawn, an ambiguous
    match): the check is left to a person. Another try gives the same, and it says nothing about
    the department's health: not a circuit-breaker failure."""


class Rejected(UpstreamError):
    """The department refused the request itself (signature, credentials, 4xx)."""


class PermissionDenied(Rejected):
    """A relay refuses this node the service (no or partial access, credentials not authorised).

    Another try cannot help until someone changes the grant: never retried, always alerted."""
