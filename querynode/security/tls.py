"""Throw-away PKI for the demo and the tests: a CA, server and client certificates.

Production deployments bring their own CA; the node only reads PEM files named in settings.
Private keys are written with mode 0600.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str | None) -> x509.Name:
    """Organisation "querynode demo" and the CN (None: no CN, for tests of such certificates)."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "querynode demo")]
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def make_ca(common_name: str = "querynode demo CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(ca: Issued, common_name: str | None, *, server: bool, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Issued:
    """A leaf certificate signed by `ca`: for a server (SANs = hosts) or a client (subject CN = caller)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
    )
    if server:
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def write_pair(issued: Issued, cert_path: Path, key_path: Path) -> None:
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(issued.cert_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(issued.key_pem)


@dataclass(frozen=True)
class DemoPki:
    """Where `ensure_demo_pki` put the files (all under one folder)."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def client_cert(self, caller: str) -> Path:
        return self.folder / f"client-{caller}.pem"

    def client_key(self, caller: str) -> Path:
        return self.folder / f"client-{caller}.key"


def ensure_demo_pki(folder: Path, client_callers: tuple[str, ...] = ("demo-registry",)) -> DemoPki:
    """Create a throw-away CA, a server certificate for 127.0.0.1/localhost and one client
    certificate per caller, on first use; keep existing files afterwards."""
    pki = DemoPki(folder)
    if pki.ca_cert.exists() and pki.ca_key.exists():
        ca = Issued(pki.ca_cert.read_bytes(), pki.ca_key.read_bytes())
    else:
        ca = make_ca()
        write_pair(ca, pki.ca_cert, pki.ca_key)
    if not pki.server_cert.exists():
        write_pair(issue(ca, "querynode", server=True), pki.server_cert, pki.server_key)
    for caller in client_callers:
        if not pki.client_cert(caller).exists():
            write_pair(issue(ca, caller, server=False), pki.client_cert(caller), pki.client_key(caller))
    return pki


def server_ssl_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """An HTTPS server context (the mock departments use it)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
