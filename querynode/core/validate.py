"""Stage 1: validate and normalise the request before anything else happens.

The limits come from the query type's params (querynode/domain/fields.py), the normalising
rules from the operation's declaration; this module keeps what every query shares.
"""
from __future__ import annotations

import dataclasses
import functools
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from querynode.core.operations import field_type, registry
from querynode.domain import identifiers as ids
from querynode.domain.errors import InvalidArgument, declared_labels, invalid, violation
from querynode.domain.fields import param_of
from querynode.domain.model import RequestContext


def validate_context(ctx: RequestContext) -> RequestContext:
    """Case number, operator and purpose (the fields with a param) are required on every request.
    The context itself comes back when normalising changed nothing (the usual case): no copy per call."""
    changed = {}
    for name, limit in _CONTEXT_LIMITS:
        value = getattr(ctx, name)
        normalised = ids.context_text(value, f"context.{name}", max_len=limit)
        if normalised != value:
            changed[name] = normalised
    return replace(ctx, **changed) if changed else ctx


# (field, max length) of the context fields that carry a param: worked out once, not per call
_CONTEXT_LIMITS = tuple((f.name, p.max_length) for f in dataclasses.fields(RequestContext)
                        if (p := param_of(f)) is not None)


def one_of(field_a: str, a: Any, field_b: str, b: Any) -> None:
    """Exactly one of two keys (a credit code or a name, ...)."""
    if bool(a) == bool(b):
        raise InvalidArgument([violation(f"{field_a}|{field_b}", "ONE_OF")])


def person(query: Any) -> tuple[Any, list[str]]:
    """A query about one person by resident ID number and name (identity, death); the query
    itself when normalising changed nothing (no copy per call)."""
    id_number, warnings = ids.resident_id(query.id_number, "id_number")
    name, more = ids.person_name(query.name, "name")
    if id_number == query.id_number and name == query.name:
        return query, warnings + more
    return replace(query, id_number=id_number, name=name), warnings + more


TYPE_NAMES = {str: "string", int: "integer", bool: "boolean"}  # JSON Schema names
TYPE_CODES = {str: "NOT_A_STRING", int: "NOT_AN_INTEGER", bool: "NOT_A_BOOLEAN"}  # errors.MESSAGES codes


@functools.cache
def _fields(query_type: type) -> tuple[tuple[str, type, Any], ...]:
    """Each field of a query type with its declared type and params, worked out once per type."""
    return tuple((f.name, field_type(query_type, f.name), param_of(f)) for f in dataclasses.fields(query_type))


def _within_limits(query: Any) -> None:
    """The declared type and limits of each field."""
    for name, expected, p in _fields(type(query)):
        value = getattr(query, name)
        if value is None:
            continue
        if type(value) is not expected:
            raise invalid(name, TYPE_CODES[expected])
        # A bound before any work on the value; the normaliser applies the exact limit to the
        # value it made (NFC, trimmed, invisible characters removed: domain/text.py).
        if expected is str and p.max_length is not None and len(value) > 4 * p.max_length:
            raise invalid(name, "TOO_LONG", max=p.max_length)
        if expected is int and ((p.minimum is not None and value < p.minimum)
                                or (p.maximum is not None and value > p.maximum)):
            raise invalid(name, "OUT_OF_RANGE", low=p.minimum, high=p.maximum)


def validate_query(query: Any) -> tuple[Any, list[str]]:
    """Return the normalised query and warnings, or raise InvalidArgument."""
    try:
        op = registry().operation_for(query)
    except LookupError:
        raise invalid("query", "UNKNOWN_QUERY") from None
    with query_labels(op.query_type):
        _within_limits(query)
        return op.validate(query)


def query_labels(query_type: type) -> AbstractContextManager[None]:
    """Within it, errors and warnings name the query's fields as its declaration does."""
    return declared_labels(_labels(query_type))


@functools.cache
def _labels(query_type: type) -> dict[str, str]:
    """Each field's label, worked out once per query type (read, never changed)."""
    return {name: p.label for name, _, p in _fields(query_type)}
