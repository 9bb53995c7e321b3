"""The MPS identity check reply: a JSON head status and a per-item check code."""
from __future__ import annotations

from connectors.base import BadUpstream
from connectors.base.wire import json_object
from querynode.domain.model import IdentityItem, IdentityResult, IdentityVerdict

DEPT = "identity"
# Check codes of the MPS reply: 000 consistent, 999 no record, 001-998 an item differs.
# Only codes whose meaning is documented map to a verdict; any other is BadUpstream,
# because guessing would risk a wrong verdict.
ITEM_CODES = {"001": IdentityItem.NAME, "002": IdentityItem.ID_NUMBER}


def parse(raw: bytes) -> IdentityResult:
    """Map the MPS reply to a verdict; anything outside the protocol is BadUpstream."""
    reply = json_object(DEPT, raw)
    if not isinstance(reply.get("head"), dict):
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
