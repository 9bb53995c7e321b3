"""Financial-licence connector: one signed JSON call to the regulator's licence register.

Signature headers of this regulator: `appKey`, `timestamp` (yyyyMMddHHmmss, Beijing time),
`nonceStr`, `sign` = base64 HMAC-SHA256(secret, appKey & timestamp & nonceStr & sha256hex(body)).
Refusals come in-band (HTTP 200 with a `retCode`), see `reply.py`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime

from connectors.base import CallInfo, Connector
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import SHANGHAI
from connectors.financial_license.reply import DEPT, parse
from querynode.domain.model import LicenseQuery, LicenseResult

PATH = "/jrxkz/api/v2/licence/query"


def sign(secret: str, app_key: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    """Signature headers for one call."""
    timestamp = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    nonce = secrets.token_hex(16)
    message = "&".join([app_key, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return {"appKey": app_key, "timestamp": timestamp, "nonceStr": nonce, "sign": signature}


class FinancialLicenseConnector(Connector):
    department = "financial_license"

    async def lookup(self, query: LicenseQuery, call: CallInfo) -> LicenseResult:
        if query.license_code:
            asked = {"cxlx": "01", "jgbm": query.license_code}
        else:
            asked = {"cxlx": "02", "jgmc": query.institution_name}
        body = json.dumps(asked, ensure_ascii=False).encode()
        headers = sign(self.config.secret, self.config.app_id, body)
        headers.update({"Content-Type": "application/json; charset=utf-8", "X-Request-Id": call.request_id})
        async with map_errors(DEPT):
            async with self.session.post(PATH, data=body, headers=headers, timeout=client_timeout(call)) as resp:
                check_status(DEPT, resp)
                raw = await read_body(DEPT, resp, self.config.max_reply_bytes)
        return LicenseResult(parse(raw, query))
