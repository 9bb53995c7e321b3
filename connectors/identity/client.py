"""Identity connector: maps IdentityQuery to the MPS check call and its codes to verdicts."""
from __future__ import annotations

import json

from connectors.base import BadUpstream, CallInfo, Connector, Rejected
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import query_request_number
from connectors.identity.envelope import sign
from querynode.domain.model import (
    IdentityItem,
    IdentityQuery,
    IdentityResult,
    IdentityVerdict,
)

PATH = "/gaapi/v1/identity/check"

# Check codes of the MPS reply: 000 consistent, 999 no record, 001-998 an item differs.
# Only codes whose meaning is documented map to a verdict; any other is BadUpstream,
# because guessing would risk a wrong verdict.
ITEM_CODES = {"001": IdentityItem.NAME, "002": IdentityItem.ID_NUMBER}


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
        dept = "identity"
        async with map_errors(dept):
            async with self.session.post(PATH, data=body, headers=headers, timeout=client_timeout(call)) as resp:
                if resp.status in (401, 403):
                    raise Rejected(f"{dept}: envelope refused (HTTP {resp.status})")
                check_status(dept, resp)
                raw = await read_body(dept, resp, self.config.max_reply_bytes)
        return parse_reply(raw)


def parse_reply(raw: bytes) -> IdentityResult:
    """Map the MPS reply to a verdict; anything outside the protocol is BadUpstream."""
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadUpstream("identity: reply is not UTF-8 JSON") from None
    if not isinstance(reply, dict) or not isinstance(reply.get("head"), dict):
        raise BadUpstream("identity: reply has no head")
    if reply["head"].get("status") != "00":
        raise BadUpstream(f"identity: department status {str(reply['head'].get('status'))[:8]!r}")
    data = reply.get("data")
    code = data.get("result") if isinstance(data, dict) else None
    if not isinstance(code, str) or len(code) != 3 or not code.isdigit():
        raise BadUpstream("identity: reply has no valid check code")
    if code == "000":
        return IdentityResult(IdentityVerdict.MATCH)
    if code == "999":
        return IdentityResult(IdentityVerdict.NOT_FOUND)
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise BadUpstream("identity: mismatch without items")
    mismatched = []
    for item in items:
        item_code = item.get("code") if isinstance(item, dict) else None
        if item_code not in ITEM_CODES:
            raise BadUpstream("identity: unknown item check code")
        mismatched.append(ITEM_CODES[item_code])
    if code not in ITEM_CODES:
        raise BadUpstream("identity: unknown check code")
    return IdentityResult(IdentityVerdict.MISMATCH, tuple(dict.fromkeys(mismatched)))
