"""Court connector: requests are form posts signed with hex HMAC-SHA256(shared secret, "k=v&..."
over the other non-empty fields sorted by name). Submit the query, then poll for the result with backoff within the call's
time. A result the court has not finished in time is `JudgmentResult(pending=True)`, an
answer rather than an error; the request number is kept so that asking again for the same
case or party resumes the court's query instead of starting over."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from urllib.parse import urlencode

from connectors.base import (
    BadUpstream,
    CallInfo,
    Connector,
    ConnectorConfig,
    Rejected,
    Timeout,
    Unavailable,
)
from connectors.base.http import check_status, map_errors, read_body
from connectors.base.wire import query_request_number
from connectors.court import reply as court_reply
from querynode.domain.model import JudgmentQuery, JudgmentResult

SUBMIT_PATH = "/fyapi/v1/cx/submit"
RESULT_PATH = "/fyapi/v1/cx/result"
DEPT = "court"


def sign(secret: str, app_id: str, fields: dict[str, str]) -> dict[str, str]:
    """The fields plus appId, timestamp, nonce and sign."""
    out = {**fields, "appId": app_id, "timestamp": str(int(time.time() * 1000)), "nonce": secrets.token_hex(16)}
    message = "&".join(f"{k}={v}" for k, v in sorted(out.items()) if v != "").encode()
    out["sign"] = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return out


class CourtConnector(Connector):
    """Options: area_code (6 digits), dept_name, poll_initial_seconds, poll_max_seconds,
    resume_seconds (how long a pending query may be resumed)."""

    department = "court"

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        options = config.options
        self.area_code = str(options.get("area_code", "110000"))
        if len(self.area_code) != 6 or not self.area_code.isdigit():
            raise ValueError("court: option area_code must be a 6-digit division code")
        self.dept_name = str(options.get("dept_name", "不动产登记中心"))
        self.poll_initial = float(options.get("poll_initial_seconds", 0.1))
        self.poll_max = float(options.get("poll_max_seconds", 1.0))
        self.resume_seconds = float(options.get("resume_seconds", 600))
        # sha256 of the query -> (court request number, monotonic submit time); pending ones only.
        self._pending: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def lookup(self, query: JudgmentQuery, call: CallInfo) -> JudgmentResult:
        loop = asyncio.get_running_loop()
        # Finish a little before the call's time is up, and start no poll that could not finish.
        end = loop.time() + call.timeout - min(0.1, 0.05 * call.timeout)
        poll_time = min(0.2, 0.1 * call.timeout)
        key = _query_key(query)
        request_number = self._resumable(key)
        resumed = request_number is not None
        if request_number is None:
            request_number = await self._submit(query, call, end)
        delay = self.poll_initial
        while True:
            wait = min(delay, end - poll_time - loop.time())
            if wait < 0:
                self._remember(key, request_number)
                return JudgmentResult(judgments=(), pending=True)
            await asyncio.sleep(wait)
            try:
                reply = await self._post(RESULT_PATH, {"cxqqdh": request_number}, call, end)
            except Timeout:
                self._remember(key, request_number)  # the court is slow, but has the query
                return JudgmentResult(judgments=(), pending=True)
            if reply.code == court_reply.NOT_READY:
                delay = min(delay * 1.6, self.poll_max)
                continue
            self._pending.pop(key, None)
            if reply.code == court_reply.UNKNOWN_REQUEST:
                if not resumed:
                    raise BadUpstream("court: the court does not know the query request number it accepted")
                # The court dropped the old query: start a new one.
                request_number, resumed = await self._submit(query, call, end), False
                delay = self.poll_initial
                continue
            if reply.request_number not in ("", request_number):
                raise BadUpstream("court: reply is for another query request number")
            return JudgmentResult(judgments=court_reply.judgments(reply))

    async def _submit(self, query: JudgmentQuery, call: CallInfo, until: float) -> str:
        number = query_request_number(self.area_code)
        fields = {"cxqqdh": number, "cxdw": self.dept_name, "cxr": call.operator_id, "ywbh": call.case_number}
        if query.case_number:
            fields |= {"cxlx": "AH", "ah": query.case_number}
        elif query.party_name:
            fields |= {"cxlx": "DSR", "dsrmc": query.party_name}
        else:
            raise ValueError("JudgmentQuery needs a case number or a party name")
        reply = await self._post(SUBMIT_PATH, fields, call, until)
        if reply.code != court_reply.OK:
            raise BadUpstream("court: submission answered with an unexpected code")
        if reply.request_number != number:
            raise BadUpstream("court: submission acknowledged another query request number")
        return number

    async def _post(self, path: str, fields: dict[str, str], call: CallInfo, until: float) -> court_reply.Reply:
        """One signed form post; its reply head checked (refusals and busy raise)."""
        remaining = until - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise Timeout(f"{DEPT}: no time left for the call")
        body = urlencode(sign(self.config.secret, self.config.app_id, fields)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Request-Id": call.request_id}
        async with map_errors(DEPT):
            async with asyncio.timeout(remaining):
                async with self.session.post(path, data=body, headers=headers) as resp:
                    check_status(DEPT, resp)
                    raw = await read_body(DEPT, resp, self.config.max_reply_bytes)
                    content_type, charset = resp.content_type, resp.charset
        reply = court_reply.parse(raw, content_type, charset)
        if reply.code in court_reply.REFUSALS:
            raise Rejected(f"{DEPT}: {court_reply.REFUSALS[reply.code]} (code {reply.code})")
        if reply.code in court_reply.BUSY:
            raise Unavailable(f"{DEPT}: {court_reply.BUSY[reply.code]}")
        return reply

    def _resumable(self, key: str) -> str | None:
        entry = self._pending.get(key)
        if entry is None:
            return None
        number, submitted = entry
        if time.monotonic() - submitted > self.resume_seconds:
            del self._pending[key]
            return None
        return number

    def _remember(self, key: str, number: str) -> None:
        if key not in self._pending:
            self._pending[key] = (number, time.monotonic())
        while len(self._pending) > 10_000:
            self._pending.popitem(last=False)


def _query_key(query: JudgmentQuery) -> str:
    """A digest, so that party names are not kept in clear in the connector's memory."""
    return hashlib.sha256(f"{query.case_number or ''}\x00{query.party_name or ''}".encode()).hexdigest()
