"""市场监管总局 unified social credit codes, as the node knows them (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from connectors.social_org.declaration import organization_badge
from querynode.core.operations import Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import one_of
from querynode.domain import identifiers as ids
from querynode.domain.model import OrganizationQuery, OrganizationResult
from querynode.security.masking import mask_name

DEPARTMENT = Department("credit_code", "市场监管总局", default_port=18002, cache_ttl_seconds=3600,
                        connector="connectors.credit_code.client:CreditCodeConnector")


def _validate(query: OrganizationQuery) -> tuple[OrganizationQuery, list[str]]:
    one_of("credit_code", query.credit_code, "name", query.name)
    if query.credit_code:
        code, warnings = ids.credit_code(query.credit_code)
        return OrganizationQuery(credit_code=code), warnings
    return OrganizationQuery(name=ids.organization_name(query.name)), []


def _masked(r: OrganizationResult) -> OrganizationResult:
    # The register is public; the legal representative is a person.
    return replace(r, organizations=tuple(
        replace(o, legal_representative=mask_name(o.legal_representative)) for o in r.organizations))


def _cards(r: OrganizationResult) -> list[Card]:
    return [Card(o.name, (
        Row("统一社会信用代码", o.credit_code), Row("登记状态", o.status_text or o.status.value),
        Row("法定代表人", mask_name(o.legal_representative)), Row("类型", o.org_type),
        Row("住所", o.domicile), Row("注册资本", o.registered_capital), Row("成立日期", o.established_on),
        Row("登记机关", o.issuing_office),
    )) for o in r.organizations]


OPERATIONS = (
    Operation(
        name="LookupOrganization", department="credit_code", query_type=OrganizationQuery,
        result_type=OrganizationResult, label="统一社会信用代码", summary="Organisation by credit code or name",
        http_path="/api/v1/organizations/lookup", verdict=found_if(lambda r: bool(r.organizations)),
        validate=_validate, masking={"masked": _masked, "verdict": _masked},
        form=Form("organization", lambda q: q.credit_code or q.name, _cards, badge=organization_badge),
        rpc="LookupOrganization",
    ),
)
