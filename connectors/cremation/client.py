"""殡葬 火化信息 connector: request `{id_card, name}` (INTERFACES.md §12.4)."""
from __future__ import annotations

from connectors.base import CallInfo
from connectors.base.ministry import MinistryConnector
from connectors.relay.contract import Service
from connectors.cremation.reply import DEPT, parse
from connectors.cremation.types import CremationQuery, CremationResult


def request(query: CremationQuery) -> dict:
    return {"id_card": query.id_number, "name": query.name}


class CremationConnector(MinistryConnector):
    department = DEPT
    path = "/mca/api/crem/query"
    service = Service.CREMATION_QUERY
    request_type = "zw_civil_crem"

    async def lookup(self, query: CremationQuery, call: CallInfo) -> CremationResult:
        return parse(await self.ask(request(query), call), query)
