"""Marriage connector: the Ministry of Civil Affairs registration query (婚姻登记信息查询).

Authentication is a short-lived access token, fetched with an HMAC-SHA256 sign over app id
and timestamp, kept until shortly before it expires and fetched again once when the
department says it is no longer valid (status 2001). The query names the man and/or the
woman by the sex digit of their ID numbers; every reply is HTTP 200 with a head status.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

from connectors.base import BadUpstream, CallInfo, Connector, ConnectorConfig, Rejected
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import query_request_number
from connectors.marriage.reply import DEPT, FOUND, NO_RECORD, envelope, parse
from querynode.domain.model import MarriageQuery, MarriageResult

TOKEN_PATH = "/mca/hyjk/token"
QUERY_PATH = "/mca/hyjk/query"
TOKEN_INVALID, BAD_REQUEST = "2001", "2002"


class TokenExpired(Exception):
    """The department no longer accepts the token this call used."""


def side(id_number: str) -> str:
    """The body slot of a person: the 17th character of the ID number is odd for men."""
    return "man" if int(id_number[16]) % 2 else "woman"


class MarriageConnector(Connector):
    department = "marriage"

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        self._token: str | None = None
        self._token_expires = 0.0  # time.monotonic()
        self._token_lock = asyncio.Lock()

    async def lookup(self, query: MarriageQuery, call: CallInfo) -> MarriageResult:
        body: dict[str, str] = {}
        asked = [(query.id_number, query.name)]
        # A claimed spouse of the other sex is asked too; the same sex cannot share a registration.
        if query.spouse_id_number and side(query.spouse_id_number) != side(query.id_number):
            asked.append((query.spouse_id_number, query.spouse_name or ""))
        for number, name in asked:
            body[f"name_{side(number)}"] = name
            body[f"cert_num_{side(number)}"] = number
        async with map_errors(DEPT):
            token = await self._current_token(call)
            try:
                reply = await self._query(token, body, call)
            except TokenExpired:
                token = await self._current_token(call, stale=token)
                try:
                    reply = await self._query(token, body, call)
                except TokenExpired:
                    raise Rejected(f"{DEPT}: a fresh token was refused") from None
        return parse(reply, query)

    async def _query(self, token: str, body: dict[str, str], call: CallInfo) -> dict[str, Any]:
        area = str(self.config.options.get("area_code", "110000"))
        envelope = {
            "head": {
                "user_id": self.config.app_id, "token": token,
                "dept_name": self.config.options.get("dept_name", "不动产登记中心"),
                "user_name": call.operator_id, "req_type": "HYDJXXCX",
                "query_req_no": query_request_number(area), "business_no": call.case_number,
                "division_code": area,
            },
            "body": body,
        }
        reply = await self._post(QUERY_PATH, envelope, call)
        status = reply["head"]["status"]
        if status == TOKEN_INVALID:
            raise TokenExpired
        if status == BAD_REQUEST:
            raise Rejected(f"{DEPT}: request refused (status {BAD_REQUEST})")
        if status not in (FOUND, NO_RECORD):
            raise BadUpstream(f"{DEPT}: unknown department status")
        return reply

    async def _current_token(self, call: CallInfo, stale: str | None = None) -> str:
        """The held token, or a new one when none is held, it is near expiry or was refused."""
        async with self._token_lock:
            usable = self._token is not None and time.monotonic() < self._token_expires
            if usable and self._token != stale:
                return self._token
            timestamp = str(int(time.time() * 1000))
            sign = hmac.new(self.config.secret.encode(), f"{self.config.app_id}{timestamp}".encode(),
                            hashlib.sha256).hexdigest()
            reply = await self._post(TOKEN_PATH, {"app_id": self.config.app_id, "timestamp": timestamp,
                                                  "sign": sign}, call)
            if reply["head"]["status"] != FOUND:
                raise Rejected(f"{DEPT}: token refused (status {reply['head']['status'][:8]})")
            data = reply.get("data")
            token = data.get("access_token") if isinstance(data, dict) else None
            expires_in = data.get("expires_in") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token or type(expires_in) is not int or expires_in <= 0:
                raise BadUpstream(f"{DEPT}: token reply malformed")
            # Renew a little early so a token never expires in flight.
            self._token, self._token_expires = token, time.monotonic() + expires_in * 0.9
            return token

    async def _post(self, path: str, payload: dict, call: CallInfo) -> dict[str, Any]:
        data = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": call.request_id}
        async with self.session.post(path, data=data, headers=headers, timeout=client_timeout(call)) as resp:
            check_status(DEPT, resp)
            raw = await read_body(DEPT, resp, self.config.max_reply_bytes)
        return envelope(raw)
