"""Abuse detection: an operator browsing persons outside their cases ("looking up the neighbours").

Per-operator rate limits (authorization.py) stop floods; this catches the quiet kind. Per
(caller, operator), over a sliding window, the detector keeps which persons were looked up
under which case number: blind-index digests of ID numbers, never the numbers. A real transfer
has a handful of parties, so a case number under which more than `subjects_per_case` distinct
persons were looked up is taken as a cover, and every person looked up under it counts as
outside the operator's cases. From `distinct_subjects` such persons on, each person lookup of
that operator is still answered (a flag, not a block), but its audit record carries `FLAG`,
`querynode_abuse_flags_total{reason}` counts it, and a WARNING names the operator and caller
(staff and system ids) when the threshold is crossed: never a person or a case number.

Memory is bounded: lookups leave the window, an operator idle for a whole window is forgotten,
and at most `max_operators` operators and `max_lookups` lookups per operator are kept. Each
process sees its own calls: with several nodes or workers each counts alone.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from typing import Any

from querynode.domain.model import RequestContext
from querynode.observability import metrics

log = logging.getLogger("querynode.abuse")

REASON = "subjects_outside_cases"
FLAG = f"abuse:{REASON}"
# Invented ids defeat the rule above: a caller rotating operator ids, an operator inventing a
# case number per lookup, one person looked up under many case numbers. Each is flagged too.
OPERATOR_CHURN, CASE_CHURN, SUBJECT_CASES = "operator_churn", "case_churn", "subject_many_cases"
# Query fields that name a person (organisation codes do not count).
PERSON_FIELDS = ("id_number", "spouse_id_number")


class _Operator:
    """One operator's lookups in the window: (time, id, case, person) in order, and per case
    the persons with the id of their latest lookup."""

    __slots__ = ("cases", "flagged", "lookups")

    def __init__(self) -> None:
        self.lookups: deque[tuple[float, int, str, str]] = deque()
        self.cases: dict[str, dict[str, int]] = {}
        self.flagged = False

    def add(self, at: float, lookup_id: int, case: str, person: str, max_lookups: int) -> None:
        self.lookups.append((at, lookup_id, case, person))
        self.cases.setdefault(case, {})[person] = lookup_id
        while len(self.lookups) > max_lookups:
            self._drop_oldest()

    def forget_before(self, at: float) -> None:
        while self.lookups and self.lookups[0][0] <= at:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, lookup_id, case, person = self.lookups.popleft()
        persons = self.cases.get(case)
        if persons is not None and persons.get(person) == lookup_id:  # not looked up again since
            del persons[person]
            if not persons:
                del self.cases[case]

    def outside_cases(self, subjects_per_case: int) -> int:
        """Distinct persons looked up under case numbers with more than subjects_per_case persons."""
        over = [persons for persons in self.cases.values() if len(persons) > subjects_per_case]
        if len(over) <= 1:
            return len(over[0]) if over else 0
        return len(set().union(*over))


class _Distinct:
    """The distinct keys seen within a sliding window, with how often each was seen."""

    __slots__ = ("counts", "seen")

    def __init__(self) -> None:
        self.seen: deque[tuple[float, str]] = deque()
        self.counts: dict[str, int] = {}

    def add(self, at: float, key: str, max_items: int) -> int:
        """Add one sighting; the number of distinct keys now in the window."""
        self.seen.append((at, key))
        self.counts[key] = self.counts.get(key, 0) + 1
        while len(self.seen) > max_items:
            self._pop()
        return len(self.counts)

    def forget_before(self, at: float) -> None:
        while self.seen and self.seen[0][0] <= at:
            self._pop()

    def _pop(self) -> None:
        _, key = self.seen.popleft()
        left = self.counts[key] - 1
        if left:
            self.counts[key] = left
        else:
            del self.counts[key]


class _Windows:
    """_Distinct per key, least recently used first, at most `max_keys` of them."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._items: dict[Any, _Distinct] = {}

    def add(self, key: Any, at: float, value: str, window_seconds: float, max_items: int) -> int:
        distinct = self._items.pop(key, None) or _Distinct()
        self._items[key] = distinct
        distinct.forget_before(at - window_seconds)
        while len(self._items) > self.max_keys:
            del self._items[next(iter(self._items))]
        return distinct.add(at, value, max_items)


class AbuseDetector:
    def __init__(self, *, window_seconds: float = 3600, distinct_subjects: int = 30,
                 subjects_per_case: int = 8, operators_per_caller: int = 20, cases_per_operator: int = 60,
                 cases_per_subject: int = 3, max_operators: int = 100_000, max_lookups: int = 10_000,
                 clock=time.monotonic) -> None:
        self.window_seconds = window_seconds
        self.distinct_subjects = distinct_subjects
        self.subjects_per_case = subjects_per_case
        self.operators_per_caller = operators_per_caller
        self.cases_per_operator = cases_per_operator
        self.cases_per_subject = cases_per_subject
        self.max_operators = max_operators
        self.max_lookups = max_lookups
        self._clock = clock
        self._ids = itertools.count()
        # (caller, operator) -> lookups; least recently active first.
        self._operators: dict[tuple[str, str], _Operator] = {}
        self._caller_operators = _Windows(max_operators)  # caller -> operator ids
        self._operator_cases = _Windows(max_operators)  # (caller, operator) -> case numbers
        self._subject_cases = _Windows(max_operators)  # (caller, person digest) -> case numbers

    @classmethod
    def from_settings(cls, settings) -> AbuseDetector | None:
        """From `querynode.config.AbuseSettings`; None when detection is switched off."""
        if not settings.enabled:
            return None
        return cls(window_seconds=settings.window_minutes * 60, distinct_subjects=settings.distinct_subjects,
                   subjects_per_case=settings.subjects_per_case, operators_per_caller=settings.operators_per_caller,
                   cases_per_operator=settings.cases_per_operator, cases_per_subject=settings.cases_per_subject)

    def observe(self, ctx: RequestContext, persons: list[str]) -> str:
        """Count one authorized lookup of `persons` (the blind-index digests of the ID numbers
        it names, PERSON_FIELDS: the hub's, not computed again); the flags its audit record
        carries (space separated, '' for none)."""
        flags = self._churn(ctx, persons)
        outside = self._outside_cases(ctx, persons) if persons else ""
        return " ".join(f for f in (outside, *flags) if f)

    def _churn(self, ctx: RequestContext, persons: list[str]) -> list[str]:
        """Invented ids: more distinct operator ids per caller, case numbers per operator, or
        case numbers per person than a real office uses within the window."""
        now, window, most = self._clock(), self.window_seconds, self.max_lookups
        counts = [(OPERATOR_CHURN, self.operators_per_caller,
                   self._caller_operators.add(ctx.caller, now, ctx.operator_id, window, most)),
                  (CASE_CHURN, self.cases_per_operator,
                   self._operator_cases.add((ctx.caller, ctx.operator_id), now, ctx.case_number, window, most))]
        counts += [(SUBJECT_CASES, self.cases_per_subject,
                    self._subject_cases.add((ctx.caller, person), now, ctx.case_number, window, most))
                   for person in persons]
        flags = []
        for reason, limit, count in counts:
            if count > limit and f"abuse:{reason}" not in flags:
                if count == limit + 1:
                    log.warning("abuse: %s by operator %r of caller %r (%d within %.0f minutes); flagged in the "
                                "audit trail (querynode audit search --flagged)", reason, ctx.operator_id,
                                ctx.caller, count, window / 60)
                metrics.child(metrics.ABUSE_FLAGS, reason).inc()
                flags.append(f"abuse:{reason}")
        return flags

    def _outside_cases(self, ctx: RequestContext, persons: list[str]) -> str:
        now = self._clock()
        self._forget_idle(now)
        key = (ctx.caller, ctx.operator_id)
        operator = self._operators.pop(key, None) or _Operator()
        self._operators[key] = operator  # now the most recently active
        operator.forget_before(now - self.window_seconds)
        for person in persons:
            operator.add(now, next(self._ids), ctx.case_number, person, self.max_lookups)
        while len(self._operators) > self.max_operators:
            del self._operators[next(iter(self._operators))]
        outside = operator.outside_cases(self.subjects_per_case)
        flagged = outside >= self.distinct_subjects
        if flagged and not operator.flagged:
            log.warning("abuse: operator %r of caller %r looked up %d distinct persons under case numbers with "
                        "more than %d persons within %.0f minutes; their person lookups are flagged in the audit "
                        "trail (querynode audit search --flagged)", ctx.operator_id, ctx.caller, outside,
                        self.subjects_per_case, self.window_seconds / 60)
        operator.flagged = flagged
        if not flagged:
            return ""
        metrics.child(metrics.ABUSE_FLAGS, REASON).inc()
        return FLAG

    def _forget_idle(self, now: float) -> None:
        """Operators whose latest lookup left the window, from the least recently active on."""
        while self._operators:
            key, operator = next(iter(self._operators.items()))
            if operator.lookups and operator.lookups[-1][0] > now - self.window_seconds:
                return
            del self._operators[key]

    @property
    def tracked_operators(self) -> int:
        return len(self._operators)
