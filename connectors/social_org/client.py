"""民政部 社会组织 connector: MZ02 `{tyshxydm, name, search_type}` (INTERFACES.md §12.1)."""
from __future__ import annotations

from connectors.base import CallInfo
from connectors.base.ministry import MinistryConnector
from connectors.relay.contract import Service
from connectors.social_org.reply import DEPT, parse
from connectors.social_org.types import SocialOrgQuery, SocialOrgResult

# 社会组织查询 type as registration systems send it (gtmap's SHZZYZ_TYPE).
SEARCH_TYPE = "10"


def request(query: SocialOrgQuery) -> dict:
    return {"tyshxydm": query.credit_code or "", "name": query.name or "", "search_type": SEARCH_TYPE}


class SocialOrgConnector(MinistryConnector):
    department = DEPT
    path = "/mca/api/shzz/query"
    service = Service.SOCIAL_ORG_QUERY
    request_type = "MZ02"

    async def lookup(self, query: SocialOrgQuery, call: CallInfo) -> SocialOrgResult:
        return parse(await self.ask(request(query), call), query)
