"""Credit-code connector: SAMR's token-then-search protocol, all pages of a search.

The node first obtains an access token (`POST /samr/oauth/token`, signed with the shared
secret, which itself never travels), keeps it until shortly before it expires, and fetches
a new one once when the register answers 401. Searches are paged; the connector fetches
every page up to `max_pages` (option) and checks that the pages add up.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time

from connectors.base import CallInfo, Connector, ConnectorConfig, Rejected
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.credit_code.reply import DEPT, Pages, access_token, parse
from querynode.domain.model import OrganizationQuery, OrganizationResult

TOKEN_PATH = "/samr/oauth/token"
SEARCH_PATH = "/samr/api/v1/ent/search"
# Renew a token this many seconds before the register would expire it.
TOKEN_MARGIN_SECONDS = 60


class CreditCodeConnector(Connector):
    department = "credit_code"

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        self.page_size = int(config.options.get("page_size", 50))
        self.max_pages = int(config.options.get("max_pages", 20))
        self._token: str | None = None
        self._token_expires = 0.0  # time.monotonic()
        self._token_lock = asyncio.Lock()

    async def lookup(self, query: OrganizationQuery, call: CallInfo) -> OrganizationResult:
        key = {"uniscid": query.credit_code} if query.credit_code else {"entname": query.name}
        loop = asyncio.get_running_loop()
        give_up = loop.time() + call.timeout
        pages = Pages(self.max_pages)
        page_no = 1
        while True:
            left = dataclasses.replace(call, timeout=give_up - loop.time())
            raw = await self._search({**key, "pageNo": page_no, "pageSize": self.page_size}, left)
            if not pages.add(parse(raw, query), page_no):
                return OrganizationResult(tuple(pages.records.values()))
            page_no += 1

    async def _search(self, body: dict, call: CallInfo) -> bytes:
        payload = json.dumps(body, ensure_ascii=False).encode()
        raw = await self._post_search(payload, await self._current_token(call), call)
        if raw is None:  # token expired or revoked: one new token, one more try
            raw = await self._post_search(payload, await self._current_token(call), call)
        if raw is None:
            raise Rejected(f"{DEPT}: access token refused (HTTP 401)")
        return raw

    async def _post_search(self, payload: bytes, token: str, call: CallInfo) -> bytes | None:
        """The reply body, or None when the register refused the token."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8",
                   "X-Request-Id": call.request_id}
        async with map_errors(DEPT):
            async with self.session.post(SEARCH_PATH, data=payload, headers=headers,
                                         timeout=client_timeout(call)) as resp:
                if resp.status == 401:
                    self._forget(token)
                    return None
                if resp.status == 403:
                    raise Rejected(f"{DEPT}: search refused (HTTP 403)")
                check_status(DEPT, resp)
                return await read_body(DEPT, resp, self.config.max_reply_bytes)

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _current_token(self, call: CallInfo) -> str:
        async with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires:
                self._token, lifetime = await self._new_token(call)
                self._token_expires = time.monotonic() + lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 2)
            return self._token

    async def _new_token(self, call: CallInfo) -> tuple[str, float]:
        timestamp = str(int(time.time() * 1000))
        app_id = self.config.app_id
        signature = hmac.new(self.config.secret.encode(), (app_id + timestamp).encode(), hashlib.sha256).hexdigest()
        form = {"client_id": app_id, "timestamp": timestamp, "signature": signature}
        async with map_errors(DEPT):
            async with self.session.post(TOKEN_PATH, data=form, headers={"X-Request-Id": call.request_id},
                                         timeout=client_timeout(call)) as resp:
                if resp.status in (400, 401, 403):
                    raise Rejected(f"{DEPT}: credentials refused (HTTP {resp.status})")
                check_status(DEPT, resp)
                return access_token(await read_body(DEPT, resp, self.config.max_reply_bytes))
