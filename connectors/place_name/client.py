"""民政部 地名信息查询 connector: MZ03 `{place_code 6位区划代码, standard_name 地名}` (INTERFACES.md §10)."""
from __future__ import annotations

from connectors.base import CallInfo
from connectors.base.ministry import MinistryConnector
from connectors.place_name.reply import DEPT, parse
from connectors.relay.contract import Service
from querynode.domain.model import PlaceNameQuery, PlaceNameResult


def request(query: PlaceNameQuery) -> dict:
    """The MZ03 business request: a name, or the 6-digit division a (6- or 12-digit) code lies in."""
    return {"place_code": (query.division_code or "")[:6], "standard_name": query.name or ""}


class PlaceNameConnector(MinistryConnector):
    department = DEPT
    path = "/dmfw/api/placename/query"
    service = Service.PLACE_NAME_QUERY
    request_type = "MZ03"

    async def lookup(self, query: PlaceNameQuery, call: CallInfo) -> PlaceNameResult:
        return parse(await self.ask(request(query), call), query)
