"""市场监管总局 enterprises (企业基本信息查询 and 验证), as the node knows them (core/operations.py)."""
from __future__ import annotations

from dataclasses import replace

from connectors.credit_code.types import EnterpriseCheckQuery, EnterpriseCheckResult
from connectors.social_org.declaration import organization_badge
from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
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


def _validate_check(query: EnterpriseCheckQuery) -> tuple[EnterpriseCheckQuery, list[str]]:
    code, warnings = ids.credit_code(query.credit_code)
    return EnterpriseCheckQuery(credit_code=code, name=ids.organization_name(query.name)), warnings


# Items of diff_list that name a person (the legal representative): their values are masked.
PERSON_ITEMS = {"name", "法定代表人", "负责人", "经营者"}


def _check_masked(r: EnterpriseCheckResult) -> EnterpriseCheckResult:
    return replace(r, differences=tuple(
        replace(d, given=mask_name(d.given), registered=mask_name(d.registered)) if d.item in PERSON_ITEMS else d
        for d in r.differences))


_OUTCOME_TEXT = {"MATCH": "比对一致", "MISMATCH": "比对不一致", "NOT_FOUND": "未查询到主体"}


def _check_cards(r: EnterpriseCheckResult) -> list[Card]:
    rows = [Row("比对结果", _OUTCOME_TEXT[r.outcome.value])]
    if r.status_text:
        rows.append(Row("登记状态", r.status_text))
    rows += [Row(f"不一致：{d.item}", f"申请 {d.given or '—'}；登记 {d.registered or '—'}")
             for d in _check_masked(r).differences]
    return [Card("企业基本信息验证", tuple(rows))]


def _check_badge(query: EnterpriseCheckQuery, r: EnterpriseCheckResult) -> Badge:
    if r.outcome.value == "NOT_FOUND":
        return Badge("未查询到主体", "attention")
    if r.outcome.value == "MISMATCH":
        return Badge("比对不一致", "attention")
    if r.status in ("REVOKED", "CANCELLED"):
        return Badge(f"比对一致，{r.status_text}", "blocked")
    return Badge("比对一致", "good")


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
    Operation(
        name="VerifyEnterprise", department="credit_code", query_type=EnterpriseCheckQuery,
        result_type=EnterpriseCheckResult, label="企业基本信息验证",
        summary="Check an enterprise's name against its credit code (市场监管总局 企业基本信息验证)",
        http_path="/api/v1/enterprises/verify", verdict=lambda r: r.outcome.value,
        validate=_validate_check, masking={"masked": _check_masked, "verdict": _check_masked},
        form=Form("enterprise-check", lambda q: f"{q.name}（{q.credit_code}）", _check_cards, badge=_check_badge),
        rpc="VerifyEnterprise",
    ),
)
