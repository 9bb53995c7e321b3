"""Field encryption for personal data the node stores (cache values, anything with names or
ID numbers): AES-256-GCM by default, SM4-GCM by configuration.

Every ciphertext names the key that sealed it, so keys rotate without losing old data: new
values use the current key, old values open with the key id they carry as long as that key
stays in the ring. Associated data (e.g. the cache key) binds a ciphertext to its place, so
a value copied under another key does not open.

Envelope: b"QE1" | algorithm byte | key-id length byte | key id | 12-byte nonce | ciphertext+tag.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"QE1"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = {"aes-256-gcm": 32, "sm4-gcm": 16}
_ALGORITHM_CODES = {"aes-256-gcm": 1, "sm4-gcm": 2}
_ALGORITHM_NAMES = {code: name for name, code in _ALGORITHM_CODES.items()}
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class FieldCryptoError(Exception):
    """A value cannot be sealed or opened (unknown key id, tampered data, bad key)."""


def _sm4_gcm_seal(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(data) + encryptor.finalize() + encryptor.tag


def _sm4_gcm_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < TAG_BYTES:
        raise InvalidTag()
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-TAG_BYTES:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(sealed[:-TAG_BYTES]) + decryptor.finalize()


class FieldCipher:
    """A key ring (key id -> key) with one current key, for one algorithm."""

    def __init__(self, keys: Mapping[str, bytes], current: str, algorithm: str = "aes-256-gcm") -> None:
        if algorithm not in KEY_BYTES:
            raise ValueError(f"unknown field cipher {algorithm!r}; use one of {sorted(KEY_BYTES)}")
        if current not in keys:
            raise ValueError(f"current field key {current!r} is not in the key ring")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(f"field key id {key_id!r} must be 1-32 chars of A-Z a-z 0-9 _ . -")
            if len(key) != KEY_BYTES[algorithm]:
                raise ValueError(f"field key {key_id!r} must have {KEY_BYTES[algorithm]} bytes for {algorithm}")
        self.keys = dict(keys)
        self.current = current
        self.algorithm = algorithm

    def seal(self, data: bytes, aad: bytes = b"") -> bytes:
        key_id = self.current.encode()
        header = MAGIC + bytes([_ALGORITHM_CODES[self.algorithm], len(key_id)]) + key_id
        nonce = os.urandom(NONCE_BYTES)
        key = self.keys[self.current]
        if self.algorithm == "aes-256-gcm":
            sealed = AESGCM(key).encrypt(nonce, data, header + aad)
        else:
            sealed = _sm4_gcm_seal(key, nonce, data, header + aad)
        return header + nonce + sealed

    def open(self, envelope: bytes, aad: bytes = b"") -> bytes:
        if len(envelope) < len(MAGIC) + 2 or not envelope.startswith(MAGIC):
            raise FieldCryptoError("not a sealed value")
        algorithm = _ALGORITHM_NAMES.get(envelope[3])
        id_len = envelope[4]
        header_len = len(MAGIC) + 2 + id_len
        key_id = envelope[5:header_len].decode("ascii", "replace")
        if algorithm is None or algorithm != self.algorithm:
            raise FieldCryptoError("value sealed with another algorithm")
        key = self.keys.get(key_id)
        if key is None:
            raise FieldCryptoError(f"value sealed with unknown key id {key_id!r}")
        header, nonce = envelope[:header_len], envelope[header_len:header_len + NONCE_BYTES]
        sealed = envelope[header_len + NONCE_BYTES:]
        try:
            if algorithm == "aes-256-gcm":
                return AESGCM(key).decrypt(nonce, sealed, header + aad)
            return _sm4_gcm_open(key, nonce, sealed, header + aad)
        except (InvalidTag, ValueError) as exc:
            raise FieldCryptoError("sealed value failed authentication") from exc

    @staticmethod
    def key_id_of(envelope: bytes) -> str:
        """The key id a sealed value names (for rotation reports)."""
        return envelope[5:5 + envelope[4]].decode("ascii", "replace")


def derived_key(node_key: bytes, algorithm: str) -> bytes:
    """A field key derived from the node key (HKDF-SHA256), used when no field keys are set."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES[algorithm], salt=None,
                info=b"querynode field encryption v1").derive(node_key)


def read_key_file(path: Path) -> tuple[dict[str, bytes], str]:
    """Keys from a file of `key_id hexkey` lines ('#' comments); the last key is current."""
    keys: dict[str, bytes] = {}
    current = ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected 'key_id hexkey'")
        try:
            keys[parts[0]] = bytes.fromhex(parts[1])
        except ValueError:
            raise ValueError(f"{path}:{number}: key is not hex") from None
        current = parts[0]
    if not keys:
        raise ValueError(f"{path}: no field keys")
    return keys, current


def cipher_for(settings) -> FieldCipher:
    """The field cipher `querynode.config.Settings` describes: keys from security.field_keys
    (environment) or security.field_keys_file, else one key derived from the node key."""
    sec = settings.security
    algorithm = sec.field_cipher
    if sec.field_keys:
        keys = {kid: bytes.fromhex(value.get_secret_value()) for kid, value in sec.field_keys.items()}
        current = sec.field_key_current or list(keys)[-1]
    elif sec.field_keys_file is not None:
        keys, current = read_key_file(sec.field_keys_file)
        current = sec.field_key_current or current
    else:
        keys, current = {"node": derived_key(settings.read_node_key(), algorithm)}, "node"
    return FieldCipher(keys, current, algorithm)
