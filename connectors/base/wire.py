"""Wire helpers several department protocols share: the national query request number and
strict decoding of a JSON object reply."""
from __future__ import annotations

import itertools
import json
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.base.errors import BadUpstream

# The departments' clock: timestamps they sign and dates they stamp are Beijing time.
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Random start: a restarted node must not reuse the numbers a department has already seen.
_SERIAL = itertools.count(secrets.randbelow(500_000))


def query_request_number(area_code: str) -> str:
    """查询请求单号: 8-digit date + 6-digit division code + 6-digit serial."""
    today = datetime.now(SHANGHAI).strftime("%Y%m%d")
    return f"{today}{area_code}{next(_SERIAL) % 1_000_000:06d}"


def json_object(department: str, raw: bytes) -> dict:
    """A reply that must be one UTF-8 JSON object; anything else is BadUpstream."""
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadUpstream(f"{department}: reply is not UTF-8 JSON") from None
    if not isinstance(reply, dict):
        raise BadUpstream(f"{department}: reply is not a JSON object")
    return reply
