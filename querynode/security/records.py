"""Verification records: canonical JSON, a digest (SHA-256 or SM3) and the node's Ed25519
signature, so a record saved with the case file can be checked later by anyone holding the
node's public key (`querynode record verify FILE`).

The signing key is derived from the node key (HKDF), so no extra secret needs managing.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def canonical(record: dict[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


class RecordSigner:
    def __init__(self, node_key: bytes, digest_algorithm: str = "sha256") -> None:
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"querynode record signing v1").derive(node_key)
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._private.public_key()
        self.digest_algorithm = digest_algorithm
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def seal(self, record: dict[str, Any]) -> "SealedRecord":
        body = canonical(record)
        sig = self._private.sign(body)
        return SealedRecord(body, digest(body, self.digest_algorithm), "ed25519:" + base64.b64encode(sig).decode(), self.key_id)


@dataclass(frozen=True)
class SealedRecord:
    body: bytes  # canonical JSON
    digest: str
    signature: str
    key_id: str

    def to_file(self) -> bytes:
        """The file a window saves with the case: record, digest, signature, key id."""
        return json.dumps({"record": json.loads(self.body), "digest": self.digest, "signature": self.signature,
                           "key_id": self.key_id}, ensure_ascii=False, indent=2).encode()


def verify_file(data: bytes, public_key: Ed25519PublicKey) -> tuple[bool, str]:
    """Check a saved record file; returns (ok, reason)."""
    try:
        saved = json.loads(data.decode("utf-8"))
        body = canonical(saved["record"])
        algorithm, _, expected = saved["digest"].partition(":")
        scheme, _, sig = saved["signature"].partition(":")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return False, "not a verification record file"
    if algorithm not in ("sha256", "sm3") or digest(body, algorithm) != saved["digest"]:
        return False, "digest does not match the record"
    if scheme != "ed25519":
        return False, "unknown signature scheme"
    try:
        public_key.verify(base64.b64decode(sig, validate=True), body)
    except (InvalidSignature, ValueError):
        return False, "signature does not verify with this node's key"
    return True, "record intact and signed by this node"
