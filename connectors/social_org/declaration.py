"""民政部 社会组织 (MZ02), as the node knows it (core/operations.py); also the validation, masking
and cards every register of organisations other than 市场监管 shares (中编办 uses them)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from connectors.social_org.types import SocialOrgQuery, SocialOrgResult
from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import one_of
from querynode.domain import identifiers as ids
from querynode.domain.errors import invalid
from querynode.domain.model import OrganizationStatus
from querynode.security.masking import mask_name

DEPARTMENT = Department("social_org", "民政部（社会组织）", default_port=18009, cache_ttl_seconds=3600,
                        connector="connectors.social_org.client:SocialOrgConnector")


def validate_for(authority: str):
    """A credit code or name query for the register of one registration authority (GB 32100,
    first character): a code of another authority is refused, not asked."""
    def validate(query: Any) -> tuple[Any, list[str]]:
        one_of("credit_code", query.credit_code, "name", query.name)
        if query.credit_code:
            code, warnings = ids.credit_code(query.credit_code)
            if code[0] != authority:
                raise invalid("credit_code", "CREDIT_DEPARTMENT")
            return type(query)(credit_code=code), warnings
        return type(query)(name=ids.organization_name(query.name)), []
    return validate


def organization_masked(r: Any) -> Any:
    # The registers are public; the legal representative (负责人) is a person.
    return replace(r, organizations=tuple(
        replace(o, legal_representative=mask_name(o.legal_representative)) for o in r.organizations))


def organization_cards(r: Any) -> list[Card]:
    return [Card(o.name, (
        Row("统一社会信用代码", o.credit_code), Row("状态", o.status_text), Row("类型", o.org_type),
        Row("法定代表人/负责人", mask_name(o.legal_representative)), Row("住所", o.domicile),
        Row("开办资金", o.registered_capital), Row("登记/发证机关", o.issuing_office),
    )) for o in r.organizations]


_STATUS_BADGES = {OrganizationStatus.ACTIVE: Badge("存续", "good"), OrganizationStatus.REVOKED: Badge("已吊销", "blocked"),
                  OrganizationStatus.CANCELLED: Badge("已注销", "blocked")}


def organization_badge(query: Any, r: Any) -> Badge:
    """A register's first match by its status: only a standing organisation is good news."""
    return _STATUS_BADGES[r.organizations[0].status] if r.organizations else Badge("未查到", "attention")


OPERATIONS = (
    Operation(
        name="LookupSocialOrganization", department="social_org", query_type=SocialOrgQuery,
        result_type=SocialOrgResult, label="社会组织", summary="Social organisation by credit code or name",
        http_path="/api/v1/social-organizations/lookup", verdict=found_if(lambda r: bool(r.organizations)),
        validate=validate_for("5"), masking={"masked": organization_masked, "verdict": organization_masked},
        form=Form("social-org", lambda q: q.credit_code or q.name, organization_cards, badge=organization_badge),
        rpc="LookupSocialOrganization",
    ),
)
