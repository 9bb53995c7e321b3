"""Place-name connector: the register's GET query API with a daily API key.

The key is hex HMAC-SHA256(secret, "<app_id>:<YYYYMMDD>") for today's date in Asia/Shanghai,
so the secret itself never travels. Application errors arrive as HTTP 200 with an `errcode`
(see `reply.py`).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from connectors.base import CallInfo, Connector
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import SHANGHAI
from connectors.place_name.reply import DEPT, parse
from querynode.domain.model import PlaceNameQuery, PlaceNameResult

PATH = "/dmfw/api/v1/dmxx"


def api_key(secret: str, app_id: str, now: datetime | None = None) -> str:
    day = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI).strftime("%Y%m%d")
    return hmac.new(secret.encode(), f"{app_id}:{day}".encode(), hashlib.sha256).hexdigest()


class PlaceNameConnector(Connector):
    department = "place_name"

    async def lookup(self, query: PlaceNameQuery, call: CallInfo) -> PlaceNameResult:
        if query.name:
            params = {"bzmc": query.name, "cxfs": "qz" if query.prefix else "jq"}
        else:
            params = {"xzqhdm": query.division_code or ""}
        params["size"] = str(query.limit)
        headers = {"X-App-Id": self.config.app_id, "X-Api-Key": api_key(self.config.secret, self.config.app_id),
                   "X-Request-Id": call.request_id, "Accept": "application/json"}
        async with map_errors(DEPT):
            async with self.session.get(PATH, params=params, headers=headers, timeout=client_timeout(call)) as resp:
                check_status(DEPT, resp)
                raw = await read_body(DEPT, resp, self.config.max_reply_bytes)
        return parse(raw, query)
