"""Identity connector: the MPS check call in the signed envelope of the national exchange
platform (DOMAIN.md §3): every call carries an app id, a millisecond timestamp, a one-time
nonce and an HMAC-SHA256 signature over those three and the SHA-256 of the body, in headers."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from connectors.base import CallInfo, Connector, Rejected
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import query_request_number
from connectors.identity.reply import DEPT, parse
from querynode.domain.model import IdentityQuery, IdentityResult

PATH = "/gaapi/v1/identity/check"



def signing_string(app_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([app_id, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, app_id: str, body: bytes, *, now_ms: int | None = None) -> dict[str, str]:
    """Headers for one signed call."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    nonce = secrets.token_hex(16)
    signature = hmac.new(secret.encode(), signing_string(app_id, timestamp, nonce, body), hashlib.sha256)
    return {"X-App-Id": app_id, "X-Timestamp": timestamp, "X-Nonce": nonce, "X-Signature": signature.hexdigest()}


class IdentityConnector(Connector):
    department = "identity"

    async def lookup(self, query: IdentityQuery, call: CallInfo) -> IdentityResult:
        area = str(self.config.options.get("area_code", "110000"))
        envelope = {
            "head": {
                "userId": self.config.app_id,
                "deptName": self.config.options.get("dept_name", "不动产登记中心"),
                "userName": call.operator_id,
                "requestType": "SFHC",
                "queryNo": query_request_number(area),
                "businessNo": call.case_number,
                "areaCode": area,
            },
            "body": {"xm": query.name, "gmsfhm": query.id_number},
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        headers = sign(self.config.secret, self.config.app_id, body)
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["X-Request-Id"] = call.request_id
        async with map_errors(DEPT):
            async with self.session.post(PATH, data=body, headers=headers, timeout=client_timeout(call)) as resp:
                if resp.status in (401, 403):
                    raise Rejected(f"{DEPT}: envelope refused (HTTP {resp.status})")
                check_status(DEPT, resp)
                raw = await read_body(DEPT, resp, self.config.max_reply_bytes)
        return parse(raw)
