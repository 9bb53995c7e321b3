"""Each connector's signature against its protocol as documented, written out literally.

Connector and mock each implement a department's signature on their own; a bug that both
shared (the same wrong field order, say) would pass every round trip. These tests pin the
connectors to the documented signing strings, with the standard library's HMAC."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from connectors.base.wire import SHANGHAI
from connectors.death.client import sign as death_sign
from connectors.financial_license.client import sign as licence_sign
from connectors.identity.client import sign as identity_sign
from connectors.place_name.client import api_key

SECRET, APP = "s3cret", "bdc-110105"
BODY = '{"xm":"张三"}'.encode()


def test_identity_envelope():
    # X-Signature = hex HMAC-SHA256(secret, app_id \n timestamp \n nonce \n sha256hex(body))
    h = identity_sign(SECRET, APP, BODY, now_ms=1767225600000)
    text = f"{APP}\n1767225600000\n{h['X-Nonce']}\n{hashlib.sha256(BODY).hexdigest()}"
    assert h["X-Timestamp"] == "1767225600000"
    assert h["X-Signature"] == hmac.new(SECRET.encode(), text.encode(), "sha256").hexdigest()


def test_death_sign_is_hmac_sm3_over_sorted_pairs():
    # Sign = upper-case hex HMAC-SM3(secret, "AppKey=..&Nonce=..&SFZH=..&Timestamp=..&XM=..")
    fields = {"XM": "张三", "AppKey": APP, "Timestamp": "20260101080000", "SFZH": "11010519491231002X", "Nonce": "n1"}
    text = f"AppKey={APP}&Nonce=n1&SFZH=11010519491231002X&Timestamp=20260101080000&XM=张三"
    assert death_sign(SECRET, fields) == hmac.new(SECRET.encode(), text.encode(), "sm3").hexdigest().upper()


def test_licence_sign_is_base64_hmac_over_key_time_nonce_body_hash():
    # sign = Base64(HMAC-SHA256(secret, appKey & timestamp & nonceStr & sha256hex(body))), Beijing time
    h = licence_sign(SECRET, APP, BODY, now=datetime(2026, 1, 1, 8, 0, tzinfo=SHANGHAI))
    text = f"{APP}&20260101080000&{h['nonceStr']}&{hashlib.sha256(BODY).hexdigest()}"
    assert h["timestamp"] == "20260101080000"
    assert h["sign"] == base64.b64encode(hmac.new(SECRET.encode(), text.encode(), "sha256").digest()).decode()


def test_place_name_daily_key():
    # X-Api-Key = hex HMAC-SHA256(secret, "<app_id>:<YYYYMMDD>"), the date in Asia/Shanghai
    key = api_key(SECRET, APP, now=datetime(2026, 1, 1, 23, 30, tzinfo=SHANGHAI))
    assert key == hmac.new(SECRET.encode(), f"{APP}:20260101".encode(), "sha256").hexdigest()
