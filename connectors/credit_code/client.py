"""市场监管总局 企业基本信息 connector (INTERFACES.md §6): the query `zw_samr_enterprise_query` and the
verify `zw_samr_enterprise_check`, both `{entname 企业名称, uniscid 统一社会信用代码}`. The two are
separate services of the relays; the verify travels through its own carrier (`EnterpriseCheck`).
"""
from __future__ import annotations

from connectors.base import CallInfo, ConnectorConfig
from connectors.base.ministry import MinistryConnector
from connectors.credit_code.reply import DEPT, parse, parse_check
from connectors.credit_code.types import EnterpriseCheckQuery, EnterpriseCheckResult
from connectors.relay.contract import Service
from querynode.domain.model import OrganizationQuery, OrganizationResult


def request(credit_code: str | None, name: str | None) -> dict:
    """The business request item of both services: either key, the other empty."""
    return {"entname": name or "", "uniscid": credit_code or ""}


class EnterpriseCheck(MinistryConnector):
    """The verify service (企业基本信息验证, 3.9)."""

    department = DEPT
    path = "/samr/api/enterprise/check"
    service = Service.ENTERPRISE_CHECK
    request_type = "zw_samr_enterprise_check"

    async def lookup(self, query: EnterpriseCheckQuery, call: CallInfo) -> EnterpriseCheckResult:
        return parse_check(await self.ask(request(query.credit_code, query.name), call), query)


class CreditCodeConnector(MinistryConnector):
    department = DEPT
    path = "/samr/api/enterprise/query"
    service = Service.ENTERPRISE_QUERY
    request_type = "zw_samr_enterprise_query"

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        self.check = EnterpriseCheck(config)

    async def close(self) -> None:
        await self.check.close()
        await super().close()

    async def lookup(self, query: OrganizationQuery | EnterpriseCheckQuery,
                     call: CallInfo) -> OrganizationResult | EnterpriseCheckResult:
        if isinstance(query, EnterpriseCheckQuery):
            return await self.check.lookup(query, call)
        return parse(await self.ask(request(query.credit_code, query.name), call), query)
