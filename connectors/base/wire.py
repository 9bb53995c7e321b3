"""Wire helpers the department protocols share: their time zone, the national query request
number, strict decoding of a JSON object reply and of the records in it."""
from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterable
from datetime import datetime
from connectors.base.errors import BadUpstream
from querynode.domain.model import SHANGHAI

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


def text_record(department: str, row: object, required: Iterable[str], optional: Iterable[str] = (), *,
                non_empty: bool = False) -> dict:
    """One record of a JSON reply: an object whose required fields are text (and not empty, with
    non_empty) and whose optional fields are text, null or absent; anything else is BadUpstream."""
    if not isinstance(row, dict):
        raise BadUpstream(f"{department}: record is not an object")
    if any(not isinstance(row.get(k), str) or (non_empty and not row[k]) for k in required):
        raise BadUpstream(f"{department}: record lacks a required text field")
    if any(row.get(k) is not None and not isinstance(row[k], str) for k in optional):
        raise BadUpstream(f"{department}: record has an optional field that is not text")
    return row
