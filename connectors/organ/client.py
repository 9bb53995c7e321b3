"""中编办 connector: ZB01 `{name 第一名称, tyshxydm}` (INTERFACES.md §12.3)."""
from __future__ import annotations

from connectors.base import CallInfo
from connectors.base.ministry import MinistryConnector
from connectors.relay.contract import Service
from connectors.organ.reply import DEPT, parse
from connectors.organ.types import OrganQuery, OrganResult


def request(query: OrganQuery) -> dict:
    """The ZB01 business request: one of the two keys, the other empty."""
    return {"name": query.name or "", "tyshxydm": query.credit_code or ""}


class OrganConnector(MinistryConnector):
    department = DEPT
    path = "/zbb/api/organ/query"
    service = Service.ORGAN_QUERY
    request_type = "ZB01"

    async def lookup(self, query: OrganQuery, call: CallInfo) -> OrganResult:
        return parse(await self.ask(request(query), call), query)
