"""Stage 2: may this caller make this query, and how much of the answer may it see?

Per caller system: the operations and departments it may use, its view level (verdict only,
masked record, full record) and a per-operator limit of lookups per minute. An empty policy
(the embedded demo default) lets every authenticated caller use everything with the full view.
"""
from __future__ import annotations

import enum
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from querynode.domain.errors import PermissionDenied, ResourceExhausted
from querynode.domain.model import RequestContext

OPERATOR_WINDOW_SECONDS = 60.0
_WHOLE_CALLER = "\0caller"  # the window key of a caller system's own limit (no operator id has a NUL)


class View(enum.StrEnum):
    """How much of a record a caller may see; masking happens on the node (masking.present)."""

    VERDICT = "verdict"  # the verdict and public register data, no personal record
    MASKED = "masked"  # records with names and ID numbers masked
    FULL = "full"  # records as the department gave them


@dataclass(frozen=True)
class CallerPolicy:
    operations: frozenset[str] = frozenset({"*"})
    departments: frozenset[str] = frozenset({"*"})
    view: View = View.FULL
    # Lookups one operator of this caller may make per minute; 0 means no limit.
    operator_limit_per_minute: int = 0
    # Lookups of the caller system as a whole per minute (rotating operator ids does not
    # help); 0 means no limit.
    caller_limit_per_minute: int = 0
    # The operator ids this caller may send (its roster) and the pattern its case numbers
    # follow; empty: not checked.
    operators: frozenset[str] = frozenset()
    case_number_pattern: re.Pattern | None = None

    @classmethod
    def of(cls, spec: Any) -> "CallerPolicy":
        """From configuration: a list of operations (the short form) or a mapping/object
        with operations, departments, view and operator_limit_per_minute."""
        if isinstance(spec, CallerPolicy):
            return spec
        if isinstance(spec, (list, tuple, set, frozenset)):
            return cls(operations=frozenset(spec))
        data = spec if isinstance(spec, Mapping) else vars(spec) if hasattr(spec, "__dict__") else None
        if data is None:
            raise TypeError(f"caller policy must be a list or a mapping, not {type(spec).__name__}")
        pattern = data.get("case_number_pattern") or ""
        return cls(
            operations=frozenset(data.get("operations") or ("*",)),
            departments=frozenset(data.get("departments") or ("*",)),
            view=View(data.get("view", View.FULL)),
            operator_limit_per_minute=int(data.get("operator_limit_per_minute") or 0),
            caller_limit_per_minute=int(data.get("caller_limit_per_minute") or 0),
            operators=frozenset(data.get("operators") or ()),
            case_number_pattern=re.compile(pattern) if pattern else None,
        )


def _allows(allowed: Iterable[str], item: str) -> bool:
    return "*" in allowed or item in allowed


@dataclass
class _Window:
    """Timestamps of one operator's recent lookups (sliding window)."""

    times: deque = field(default_factory=deque)


class Authorizer:
    def __init__(self, policy: Mapping[str, Any] | None = None, *, clock=time.monotonic) -> None:
        self.policy = {caller: CallerPolicy.of(spec) for caller, spec in (policy or {}).items()}
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def policy_for(self, caller: str) -> CallerPolicy:
        if not self.policy:
            return CallerPolicy()
        policy = self.policy.get(caller)
        if policy is None:
            raise PermissionDenied(f"caller {caller!r} is not registered with this node")
        return policy

    def check(self, ctx: RequestContext, operation: str, department: str = "") -> CallerPolicy:
        """Raise PermissionDenied / ResourceExhausted with the reason; return the caller's policy."""
        policy = self.policy_for(ctx.caller)
        if not _allows(policy.operations, operation):
            raise PermissionDenied(f"caller {ctx.caller!r} may not use {operation}")
        if department and not _allows(policy.departments, department):
            raise PermissionDenied(f"caller {ctx.caller!r} may not query department {department}")
        if policy.operators and ctx.operator_id not in policy.operators:
            raise PermissionDenied(f"operator {ctx.operator_id!r} is not on the roster of {ctx.caller!r}")
        if policy.case_number_pattern is not None and not policy.case_number_pattern.fullmatch(ctx.case_number):
            raise PermissionDenied(f"the case number does not follow the pattern of {ctx.caller!r}")
        if policy.caller_limit_per_minute:
            self._count(ctx.caller, _WHOLE_CALLER, policy.caller_limit_per_minute)
        if policy.operator_limit_per_minute:
            self._count(ctx.caller, ctx.operator_id, policy.operator_limit_per_minute)
        return policy

    def check_operation(self, ctx: RequestContext, operation: str) -> None:
        """Raise PermissionDenied unless the caller may use `operation` (e.g. CheckCase, whose
        lookups are each checked on their own as well); counts against no limit."""
        policy = self.policy_for(ctx.caller)
        if not _allows(policy.operations, operation):
            raise PermissionDenied(f"caller {ctx.caller!r} may not use {operation}")

    def view_for(self, caller: str) -> View:
        try:
            return self.policy_for(caller).view
        except PermissionDenied:
            return View.VERDICT

    def _count(self, caller: str, operator_id: str, limit: int) -> None:
        now = self._clock()
        window = self._windows.setdefault((caller, operator_id), _Window())
        while window.times and window.times[0] <= now - OPERATOR_WINDOW_SECONDS:
            window.times.popleft()
        if len(window.times) >= limit:
            who = f"caller {caller!r}" if operator_id == _WHOLE_CALLER else f"operator {operator_id!r} of {caller!r}"
            raise ResourceExhausted(f"{who} reached the limit of {limit} lookups per minute")
        window.times.append(now)
        if len(self._windows) > 100_000:  # forget idle operators; bounded memory
            for key in [k for k, w in self._windows.items() if not w.times or w.times[-1] <= now - OPERATOR_WINDOW_SECONDS]:
                del self._windows[key]
