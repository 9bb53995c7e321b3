"""Each connector's signature against its protocol as documented, written out literally.

Connector and mock each implement a department's signature on their own; a bug that both
shared (the same wrong field order, say) would pass every round trip. These tests pin the
connectors to the documented signing strings, with the standard library's HMAC."""
from __future__ import annotations

import hashlib
import hmac

from connectors.base.ministry import signature as ministry_signature

SECRET, APP = "s3cret", "bdc-110105"
BODY = '{"xm":"张三"}'.encode()


def test_ministry_envelope():
    # X-Signature = hex HMAC-SHA256(secret, app_id \n timestamp \n nonce \n sha256hex(body)) (identity, organ ...)
    text = f"{APP}\n1767225600000\nn1\n{hashlib.sha256(BODY).hexdigest()}"
    assert ministry_signature(SECRET, APP, "1767225600000", "n1", BODY) == hmac.new(
        SECRET.encode(), text.encode(), "sha256").hexdigest()
