"""The lookups the hub serves: operation name, department, query and result types."""
from __future__ import annotations

from dataclasses import dataclass

from querynode.domain.model import (
    DeathQuery,
    DeathResult,
    Department,
    IdentityQuery,
    IdentityResult,
    JudgmentQuery,
    JudgmentResult,
    LicenseQuery,
    LicenseResult,
    MarriageQuery,
    MarriageResult,
    OrganizationQuery,
    OrganizationResult,
    PlaceNameQuery,
    PlaceNameResult,
)


@dataclass(frozen=True)
class Operation:
    name: str
    department: Department
    query_type: type
    result_type: type


VERIFY_IDENTITY = Operation("VerifyIdentity", Department.IDENTITY, IdentityQuery, IdentityResult)
LOOKUP_ORGANIZATION = Operation("LookupOrganization", Department.CREDIT_CODE, OrganizationQuery, OrganizationResult)
QUERY_FINANCIAL_LICENSE = Operation("QueryFinancialLicense", Department.FINANCIAL_LICENSE, LicenseQuery, LicenseResult)
QUERY_JUDGMENTS = Operation("QueryJudgments", Department.COURT, JudgmentQuery, JudgmentResult)
QUERY_MARRIAGE = Operation("QueryMarriage", Department.MARRIAGE, MarriageQuery, MarriageResult)
QUERY_PLACE_NAMES = Operation("QueryPlaceNames", Department.PLACE_NAME, PlaceNameQuery, PlaceNameResult)
QUERY_DEATH = Operation("QueryDeath", Department.DEATH, DeathQuery, DeathResult)

OPERATIONS = {op.query_type: op for op in (
    VERIFY_IDENTITY, LOOKUP_ORGANIZATION, QUERY_FINANCIAL_LICENSE, QUERY_JUDGMENTS,
    QUERY_MARRIAGE, QUERY_PLACE_NAMES, QUERY_DEATH,
)}


def operation_for(query: object) -> Operation:
    return OPERATIONS[type(query)]
