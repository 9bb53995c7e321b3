"""民政部 婚姻登记信息查询 (MZ01): `{cert_num, name}`, one person per call (INTERFACES.md §9.1).

A couple query asks about the person only: the person's rows name the other party of every
act, which is what "married to each other" is read from.
"""
from __future__ import annotations

from connectors.base import CallInfo
from connectors.base.ministry import MinistryConnector
from connectors.marriage.reply import DEPT, parse
from connectors.relay.contract import Service
from querynode.domain.model import MarriageQuery, MarriageResult


def request(query: MarriageQuery) -> dict:
    return {"cert_num": query.id_number, "name": query.name}


class MarriageConnector(MinistryConnector):
    department = DEPT
    path = "/mca/api/marriage/query"
    service = Service.MARRIAGE_QUERY
    request_type = "MZ01"

    async def lookup(self, query: MarriageQuery, call: CallInfo) -> MarriageResult:
        return parse(await self.ask(request(query), call), query)
