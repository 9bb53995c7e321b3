"""Key material for the three relays, made once on first run (the demo) and then reused.

In a real installation each relay's operator issues these; for the demo the node plays both
sides. Every file is created with mode 0600 in a 0700 folder and never overwritten:

* `bjjk-private-key.pem` — the 部级接口 gateway's RSA key (PKCS#8 PEM). Only the mock gateway reads it;
  a real gateway keeps its own.
* `bjjk.json` — what the gateway operator hands a centre: `user_id` (head.id) and `public_key`
  (URL-safe Base64 X.509 DER, also head.token). Keys match `GatewayConfig` fields.
* `sjpt.json` — the provincial platform login: `username`, `password` (`ProvincialConfig` fields).
* `gjpt.json` — per service `{rid, sid, appkey}` for the national platform, plus `username`/`password`
  for the 卫健委 SOAP service (`ServiceCredential` fields).
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.relay.contract import Service

# The gateway's key size: 117-byte plaintext blocks, 128-byte cipher blocks (INTERFACES.md §1.6).
GATEWAY_KEY_BITS = 1024
NATIONAL_SERVICES = (Service.MARRIAGE_QUERY, Service.SOCIAL_ORG_QUERY, Service.CREMATION_QUERY,
                     Service.DEATH_CERTIFICATE, Service.ENTERPRISE_QUERY, Service.ENTERPRISE_CHECK)


def _write_new(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")


def ensure_relay_credentials(folder: str | os.PathLike, org_code: str = "12340000MB0000000X") -> dict[str, Path]:
    """Create whatever relay key files `folder` lacks; return every file's path by name."""
    root = Path(folder)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = {name: root / name for name in ("bjjk-private-key.pem", "bjjk.json", "sjpt.json", "gjpt.json")}
    if not paths["bjjk-private-key.pem"].exists() or not paths["bjjk.json"].exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=GATEWAY_KEY_BITS)
        public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        for stale in (paths["bjjk-private-key.pem"], paths["bjjk.json"]):
            stale.unlink(missing_ok=True)  # a half-made pair is useless: make both anew
        _write_new(paths["bjjk-private-key.pem"], key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _write_new(paths["bjjk.json"], _json({
            "user_id": secrets.token_hex(16),
            "public_key": base64.urlsafe_b64encode(public).decode("ascii").rstrip("="),
        }))
    if not paths["sjpt.json"].exists():
        _write_new(paths["sjpt.json"], _json({"username": "querynode", "password": secrets.token_hex(16)}))
    if not paths["gjpt.json"].exists():
        credentials = {
            service.value: {"rid": f"{org_code}@{secrets.token_hex(16)}", "sid": f"s_{org_code}_{number:04d}",
                            "appkey": secrets.token_hex(16)}
            for number, service in enumerate(NATIONAL_SERVICES, start=1)
        }
        # the 卫健委 SOAP services also want a business login
        credentials[Service.DEATH_CERTIFICATE.value] |= {"username": "querynode", "password": secrets.token_hex(16)}
        _write_new(paths["gjpt.json"], _json(credentials))
    return paths


def relay_options(kind: str, paths: dict[str, Path], serial_dir: str | os.PathLike, *, region: str = "110000",
                  dept_name: str = "某市不动产登记中心") -> dict:
    """A department's `options` carrying it over relay `kind` (gateway, provincial, national) with the
    files `ensure_relay_credentials` made; request serials are kept in `serial_dir`."""
    serials = Path(serial_dir)
    if kind == "gateway":
        block = {"credentials_file": str(paths["bjjk.json"]), "region": region, "dept_name": dept_name,
                 "serial_file": str(serials / "bjjk-cxqqdh")}
    elif kind == "provincial":
        block = {"credentials_file": str(paths["sjpt.json"]), "region": region, "dept_name": dept_name,
                 "serial_file": str(serials / "sjpt-cxqqdh")}
    elif kind == "national":
        block = {"credentials_file": str(paths["gjpt.json"])}
    else:
        raise ValueError(f"no relay {kind!r}")
    return {"relay": kind, kind: block}
