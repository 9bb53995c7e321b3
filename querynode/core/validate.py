"""Stage 1: validate and normalise the request before anything else happens."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from querynode.domain import identifiers as ids
from querynode.domain.errors import InvalidArgument, violation
from querynode.domain.model import (
    DeathQuery,
    IdentityQuery,
    JudgmentQuery,
    LicenseQuery,
    MarriageQuery,
    OrganizationQuery,
    PlaceNameQuery,
    RequestContext,
)


def validate_context(ctx: RequestContext) -> RequestContext:
    """Case number, operator and purpose are required on every request."""
    return replace(
        ctx,
        case_number=ids.context_text(ctx.case_number, "context.case_number", max_len=64),
        operator_id=ids.context_text(ctx.operator_id, "context.operator_id", max_len=64),
        purpose=ids.context_text(ctx.purpose, "context.purpose", max_len=200),
    )


def _one_of(field_a: str, a: Any, field_b: str, b: Any) -> None:
    if bool(a) == bool(b):
        raise InvalidArgument([violation(f"{field_a}|{field_b}", "ONE_OF")])


def validate_query(query: Any) -> tuple[Any, list[str]]:
    """Return the normalised query and warnings, or raise InvalidArgument."""
    warnings: list[str] = []
    match query:
        case IdentityQuery() | DeathQuery():
            id_number, warnings = ids.resident_id(query.id_number, "id_number")
            name, more = ids.person_name(query.name, "name")
            return type(query)(id_number=id_number, name=name), warnings + more
        case MarriageQuery():
            id_number, warnings = ids.resident_id(query.id_number, "id_number")
            name, more = ids.person_name(query.name, "name")
            warnings += more
            spouse_id = spouse_name = None
            if query.spouse_id_number or query.spouse_name:
                spouse_id, more = ids.resident_id(query.spouse_id_number or "", "spouse_id_number")
                warnings += more
                spouse_name, more = ids.person_name(query.spouse_name or "", "spouse_name")
                warnings += more
            return MarriageQuery(id_number, name, spouse_id, spouse_name), warnings
        case OrganizationQuery():
            _one_of("credit_code", query.credit_code, "name", query.name)
            if query.credit_code:
                code, warnings = ids.credit_code(query.credit_code)
                return OrganizationQuery(credit_code=code), warnings
            return OrganizationQuery(name=ids.organization_name(query.name)), warnings
        case LicenseQuery():
            _one_of("license_code", query.license_code, "institution_name", query.institution_name)
            if query.license_code:
                return LicenseQuery(license_code=ids.license_code(query.license_code)), warnings
            return LicenseQuery(institution_name=ids.organization_name(query.institution_name, "institution_name")), warnings
        case JudgmentQuery():
            _one_of("case_number", query.case_number, "party_name", query.party_name)
            if query.case_number:
                return JudgmentQuery(case_number=ids.court_case_number(query.case_number)), warnings
            return JudgmentQuery(party_name=ids.organization_name(query.party_name, "party_name")), warnings
        case PlaceNameQuery():
            _one_of("name", query.name, "division_code", query.division_code)
            if not isinstance(query.limit, int) or not 1 <= query.limit <= 100:
                raise InvalidArgument([violation("limit", "OUT_OF_RANGE", low=1, high=100)])
            if query.name:
                return PlaceNameQuery(name=ids.place_name(query.name), prefix=bool(query.prefix), limit=query.limit), warnings
            return PlaceNameQuery(division_code=ids.division_code(query.division_code), limit=query.limit), warnings
    raise InvalidArgument([violation("query", "UNKNOWN_QUERY")])
