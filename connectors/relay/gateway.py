"""Relay A: the 部级接口 gateway (INTERFACES.md §1).

One URL for every service, chosen by `head.requestType`. The business JSON travels RSA-encrypted
in `param`; the gateway answers `{head, data}` with `data` encrypted under its private key, which
the client opens with the public key it holds (the same key string it sends as `head.token`).

"Decrypting with the public key" is RSA signature recovery of PKCS#1 v1.5 type-1 blocks. The
`cryptography` package exposes exactly that primitive as
`RSAPublicKey.recover_data_from_signature(block, PKCS1v15(), None)` (OpenSSL's
`EVP_PKEY_verify_recover`), so no hand-written modular arithmetic is needed; a Java-produced block
(`Cipher.getInstance("RSA")` in ENCRYPT_MODE with the private key) is among the tests.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from connectors.base.contract import CallInfo
from connectors.base.errors import BadUpstream
from connectors.relay.contract import (
    HEAD_ONLY,
    HttpRequest,
    Relay,
    RelayConfig,
    RelayReply,
    Service,
    envelope,
    field_of,
    head_code,
    raise_for_head_status,
    unescape_text,
)
from connectors.relay.serial import DailySerial, request_number

NAME = "部级接口"
OK = "0200"


@dataclass(frozen=True)
class GatewayConfig(RelayConfig):
    user_id: str = ""  # head.id, 用户ID issued by the gateway
    public_key: str = ""  # X.509 SubjectPublicKeyInfo DER, Base64 (URL-safe); also head.token
    dept_name: str = ""  # head.deptName, 登记部门名称
    region: str = ""  # head.xzqh and the region in cxqqdh: 6-digit 行政区划
    serial_file: str = ".querynode/relay/bjjk-cxqqdh"
    app_key: str = ""  # optional `appKey` HTTP header
    path: str = "/register/api/IDServices"


def b64decode_any(text: str) -> bytes:
    """Base64 in either alphabet, padding optional; BadUpstream if it is not Base64."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadUpstream(f"{NAME}: data is not Base64") from None


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """The configured key string; a broken one stops the node at start-up (ValueError)."""
    try:
        key = load_der_public_key(b64decode_any(text))
    except (BadUpstream, ValueError):
        raise ValueError(f"{NAME}: the configured public key is not a Base64 X.509 RSA key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{NAME}: the configured public key is not RSA")
    return key


def encrypt(key: rsa.RSAPublicKey, plaintext: bytes) -> str:
    """PKCS#1 v1.5 in (keyBytes − 11)-byte blocks, concatenated, URL-safe Base64 without padding."""
    step = key.key_size // 8 - 11
    blocks = (key.encrypt(plaintext[i:i + step], padding.PKCS1v15()) for i in range(0, len(plaintext), step))
    return base64.urlsafe_b64encode(b"".join(blocks)).decode("ascii").rstrip("=")


def decrypt(key: rsa.RSAPublicKey, text: str) -> bytes:
    """Open `data`: recover each keyBytes-long type-1 block with the public key."""
    ciphertext = b64decode_any(text)
    size = key.key_size // 8
    if len(ciphertext) % size:
        raise BadUpstream(f"{NAME}: data is not whole {size}-byte blocks")
    try:
        return b"".join(
            key.recover_data_from_signature(ciphertext[i:i + size], padding.PKCS1v15(), None)
            for i in range(0, len(ciphertext), size)
        )
    except (InvalidSignature, ValueError):
        raise BadUpstream(f"{NAME}: data does not open with the gateway key") from None


def parse_plaintext(plaintext: bytes) -> Any:
    """The decoder branches as the gateway's own client does: JSON object or array, or XML text."""
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUpstream(f"{NAME}: data is not UTF-8") from None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            raise BadUpstream(f"{NAME}: data is broken JSON") from None
    if not stripped or "<?xml" in stripped or stripped[:1] == '"':
        return unescape_text(NAME, stripped)
    raise BadUpstream(f"{NAME}: data is neither JSON nor XML")


class GatewayRelay(Relay):
    name = NAME
    codes = {
        Service.IDENTITY_CHECK: "GA02",
        Service.MARRIAGE_QUERY: "MZ01",
        Service.SOCIAL_ORG_QUERY: "MZ02",
        Service.PLACE_NAME_QUERY: "MZ03",
        Service.FINANCIAL_LICENSE_QUERY: "YB01",
        Service.ORGAN_QUERY: "ZB01",
        Service.COURT_APPLY: "GF01",
        Service.COURT_FEEDBACK: "GF99",
    }

    def __init__(self, config: GatewayConfig) -> None:
        if not (len(config.region) == 6 and config.region.isdigit()):
            raise ValueError(f"{NAME}: region must be a 6-digit 行政区划 code")
        super().__init__(config)
        self.config: GatewayConfig = config
        self.key = load_public_key(config.public_key)
        self.serial = DailySerial(config.serial_file)

    async def next_request_number(self) -> str:
        return await request_number(self.serial, self.config.region)

    async def egress(self, service: Service, payload: Any, call: CallInfo) -> HttpRequest:
        head = {
            "id": self.config.user_id,
            "token": self.config.public_key,
            "deptName": self.config.dept_name,
            "userName": call.operator_id,
            "requestType": self.code_for(service),
            "cxqqdh": call.request_number or await self.next_request_number(),
            "businessNumber": call.case_number,
            "xzqh": self.config.region,
        }
        param = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "timestamp": str(int(time.time())),
            "unitCode": "LandResourcesBureau",
        }
        if self.config.app_key:
            headers["appKey"] = self.config.app_key
        return HttpRequest(self.config.path, headers, json={"head": head, "param": encrypt(self.key, param)})

    def ingress(self, service: Service, body: bytes) -> RelayReply:
        reply, head = envelope(NAME, body)
        code = head_code(NAME, head, "status")
        raise_for_head_status(NAME, code)
        if code != OK:
            raise BadUpstream(f"{NAME}: unknown status {code[:8]!r}")
        echoed = field_of(head, "requestType")
        if echoed not in (None, "", self.code_for(service)):
            raise BadUpstream(f"{NAME}: reply is for another service")
        number = field_of(head, "cxqqdh")
        number = number if isinstance(number, str) else ""
        if service in HEAD_ONLY:
            return RelayReply(None, number)
        data = field_of(reply, "data")
        if not isinstance(data, str):
            raise BadUpstream(f"{NAME}: reply has no encrypted data")
        return RelayReply(parse_plaintext(decrypt(self.key, data)), number)

