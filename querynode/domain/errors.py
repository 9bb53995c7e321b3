"""Every error the hub can raise, in one place, grouped by kind.

Front ends translate these through one table each (`querynode/api/errors.py`).
Messages never contain personal data: they name fields and departments, never values.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: its name and why (no value is echoed)."""

    field: str
    description: str


class QueryError(Exception):
    """Base of every error a query can end with."""

    reason = "QUERY_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(QueryError):
    """The request is malformed; nothing was asked upstream."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation] | tuple[FieldViolation, ...]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class Unauthenticated(QueryError):
    """The caller could not be identified."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(QueryError):
    """The caller or operator may not make this query."""

    reason = "PERMISSION_DENIED"


class ResourceExhausted(QueryError):
    """A local limit (bulkhead, quota) refused the call before the deadline."""

    reason = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(QueryError):
    """The call's deadline passed before an answer could be produced."""

    reason = "DEADLINE_EXCEEDED"


class AuditUnavailable(QueryError):
    """The audit store cannot record the query; the node fails closed."""

    reason = "AUDIT_UNAVAILABLE"


class NotFound(QueryError):
    """A node-side object (case handle, record id) does not exist."""

    reason = "NOT_FOUND"


class Unimplemented(QueryError):
    """The operation is part of the contract but not served by this node."""

    reason = "UNIMPLEMENTED"
