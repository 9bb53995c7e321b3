"""The signed envelope of the national exchange platform (DOMAIN.md §3).

Every call carries an app id, a millisecond timestamp, a one-time nonce and an
HMAC-SHA256 signature over those three and the SHA-256 of the body, in headers.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def signing_string(app_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([app_id, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, app_id: str, body: bytes, *, now_ms: int | None = None) -> dict[str, str]:
    """Headers for one signed call."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    nonce = secrets.token_hex(16)
    signature = hmac.new(secret.encode(), signing_string(app_id, timestamp, nonce, body), hashlib.sha256)
    return {
        "X-App-Id": app_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": signature.hexdigest(),
    }


