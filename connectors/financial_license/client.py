"""银保监会 金融许可证查询 connector: YB01 `{typeId 查询类型, certCode 机构编码}` (INTERFACES.md §7).

The service is asked by licence code only: no documented field carries an institution name, so a
query by name never leaves the node (the check is left to a person, with that reason).
"""
from __future__ import annotations

from connectors.base import CallInfo, Rejected
from connectors.base.ministry import MinistryConnector
from connectors.financial_license.reply import DEPT, parse
from connectors.relay.contract import Service
from querynode.domain.model import LicenseQuery, LicenseResult

# 查询类型: 01 银行 (the documented default), 02 保险. A 金融许可证 is a banking licence.
BANKING = "01"


def request(query: LicenseQuery) -> dict:
    return {"typeId": BANKING, "certCode": query.license_code or ""}


class FinancialLicenseConnector(MinistryConnector):
    department = DEPT
    path = "/jrxkz/api/licence/query"
    service = Service.FINANCIAL_LICENSE_QUERY
    request_type = "YB01"

    async def lookup(self, query: LicenseQuery, call: CallInfo) -> LicenseResult:
        if not query.license_code:
            raise Rejected(f"{DEPT}: 金融许可证查询 (YB01) answers by 机构编码 only, not by name")
        return parse(await self.ask(request(query), call), query)
