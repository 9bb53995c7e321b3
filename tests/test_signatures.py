"""Each connector's signature against its protocol as documented, written out literally.

Connector and mock each implement a department's signature on their own; a bug that both
shared (the same wrong field order, say) would pass every round trip. These tests pin the
connectors to the documented signing strings, with the standard library's HMAC."""
from __future__ import annotations

import hashlib
import hmac

from connectors.identity.client import sign as identity_sign

SECRET, APP = "s3cret", "bdc-110105"
BODY = '{"xm":"张三"}'.encode()


def test_identity_envelope():
    # X-Signature = hex HMAC-SHA256(secret, app_id \n timestamp \n nonce \n sha256hex(body))
    h = identity_sign(SECRET, APP, BODY, now_ms=1767225600000)
    text = f"{APP}\n1767225600000\n{h['X-Nonce']}\n{hashlib.sha256(BODY).hexdigest()}"
    assert h["X-Timestamp"] == "1767225600000"
    assert h["X-Signature"] == hmac.new(SECRET.encode(), text.encode(), "sha256").hexdigest()
