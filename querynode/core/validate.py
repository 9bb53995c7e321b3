"""Stage 1: validate and normalise the request before anything else happens.

The limits come from the query type's params (querynode/domain/fields.py), the normalising
rules from the operation's declaration; this module keeps what every query shares.
"""
from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

from querynode.core.operations import field_type, registry
from querynode.domain import identifiers as ids
from querynode.domain.errors import FieldViolation, InvalidArgument
from querynode.domain.fields import param_of
from querynode.domain.model import RequestContext


def validate_context(ctx: RequestContext) -> RequestContext:
    """Case number, operator and purpose are required on every request."""
    return replace(
        ctx,
        case_number=ids.context_text(ctx.case_number, "context.case_number", max_len=64),
        operator_id=ids.context_text(ctx.operator_id, "context.operator_id", max_len=64),
        purpose=ids.context_text(ctx.purpose, "context.purpose", max_len=200),
    )


def one_of(field_a: str, a: Any, field_b: str, b: Any) -> None:
    """Exactly one of two keys (a credit code or a name, ...)."""
    if bool(a) == bool(b):
        raise InvalidArgument([FieldViolation(f"{field_a}|{field_b}", f"give exactly one of {field_a} and {field_b}")])


def person(query: Any) -> tuple[Any, list[str]]:
    """A query about one person by resident ID number and name (identity, death)."""
    id_number, warnings = ids.resident_id(query.id_number, "id_number")
    return replace(query, id_number=id_number, name=ids.person_name(query.name, "name")), warnings


TYPE_NAMES = {str: "string", int: "integer", bool: "boolean"}  # JSON Schema names, also in error texts


def _within_limits(query: Any) -> None:
    """The declared type and limits of each field. Normalisers may be stricter."""
    for f in dataclasses.fields(query):
        value, p = getattr(query, f.name), param_of(f)
        if value is None:
            continue
        expected = field_type(type(query), f.name)
        if type(value) is not expected:
            raise InvalidArgument([FieldViolation(f.name, f"must be a {TYPE_NAMES.get(expected, expected.__name__)}")])
        if expected is str and p.max_length is not None and len(value) > p.max_length:
            raise InvalidArgument([FieldViolation(f.name, f"is longer than {p.max_length} characters")])
        if expected is int and ((p.minimum is not None and value < p.minimum)
                                or (p.maximum is not None and value > p.maximum)):
            raise InvalidArgument([FieldViolation(f.name, f"must be between {p.minimum} and {p.maximum}")])


def validate_query(query: Any) -> tuple[Any, list[str]]:
    """Return the normalised query and warnings, or raise InvalidArgument."""
    try:
        op = registry().operation_for(query)
    except LookupError:
        raise InvalidArgument([FieldViolation("query", "unknown query type")]) from None
    _within_limits(query)
    return op.validate(query)
