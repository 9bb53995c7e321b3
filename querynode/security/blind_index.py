"""Keyed hashes of personal data: cache keys and audit lookups without the data itself."""
from __future__ import annotations

import hashlib
import hmac


class BlindIndex:
    """HMAC-SHA256 (default) or HMAC-SM3 over length-prefixed parts."""

    def __init__(self, key: bytes, algorithm: str = "sha256") -> None:
        if len(key) < 16:
            raise ValueError("blind index key must have at least 16 bytes")
        self._key = key
        self._algorithm = algorithm

    def digest(self, *parts: str) -> str:
        mac = hmac.new(self._key, digestmod=self._algorithm)
        for part in parts:
            data = part.encode()
            mac.update(len(data).to_bytes(4, "big"))
            mac.update(data)
        return mac.hexdigest()
