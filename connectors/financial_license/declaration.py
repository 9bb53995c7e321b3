"""金融监管总局 financial licences, as the node knows them (core/operations.py)."""
from __future__ import annotations

from querynode.core.operations import Badge, Card, Department, Form, Operation, Row, found_if
from querynode.core.validate import one_of
from querynode.domain import identifiers as ids
from querynode.domain.model import LicenseQuery, LicenseResult

DEPARTMENT = Department("financial_license", "金融监管总局", default_port=18007, cache_ttl_seconds=86400,
                        connector="connectors.financial_license.client:FinancialLicenseConnector")


def _validate(query: LicenseQuery) -> tuple[LicenseQuery, list[str]]:
    one_of("license_code", query.license_code, "institution_name", query.institution_name)
    if query.license_code:
        return LicenseQuery(license_code=ids.license_code(query.license_code)), []
    return LicenseQuery(institution_name=ids.organization_name(query.institution_name, "institution_name")), []


def _public(r: LicenseResult) -> LicenseResult:
    return r  # licences are a public register of institutions


def _cards(r: LicenseResult) -> list[Card]:
    return [Card(lic.institution_name, (
        Row("机构编码", lic.license_code), Row("许可证流水号", lic.serial_number),
        Row("状态", "有效" if lic.valid else "无效"), Row("机构类型", lic.institution_type),
        Row("住所", lic.address), Row("业务范围", lic.scope), Row("发证机关", lic.issuing_office),
        Row("批准日期", lic.approved_on), Row("发证日期", lic.issued_on),
    )) for lic in r.licenses]


def _badge(query: LicenseQuery, r: LicenseResult) -> Badge:
    if not r.licenses:
        return Badge("未查到", "attention")
    return Badge("有效", "good") if r.licenses[0].valid else Badge("已失效", "blocked")


OPERATIONS = (
    Operation(
        name="QueryFinancialLicense", department="financial_license", query_type=LicenseQuery,
        result_type=LicenseResult, label="金融许可证", summary="Financial licence by code or name",
        http_path="/api/v1/licenses/query", verdict=found_if(lambda r: bool(r.licenses)),
        validate=_validate, masking={"masked": _public, "verdict": _public},
        form=Form("license", lambda q: q.license_code or q.institution_name, _cards, badge=_badge),
        rpc="QueryFinancialLicense",
    ),
)
