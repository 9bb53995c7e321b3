"""Stage 1 (at the doors): who is calling?

gRPC: mutual TLS (the caller system is the client certificate's subject CN, the certificate
signed by the configured client CA) or, over server-side TLS, a bearer token in the
`authorization` metadata. JSON API: `Authorization: Bearer <token>`. Tokens are random
256-bit strings; the node keeps only their SHA-256 hashes (a fast hash is enough for
high-entropy secrets: nothing to brute-force). Plain-text gRPC and an anonymous JSON API are
explicit modes bound to a loopback address, for the embedded demo and tests.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import grpc

from querynode.domain.errors import QueryError, Unauthenticated
from querynode.domain.model import RequestContext

TOKEN_PREFIX = "qn_"
UNAUTHENTICATED_CALLER = "(unauthenticated)"
_MAX_TOKEN_CHARS = 256


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class TokenStore:
    """Bearer tokens by hash: {sha256 hex: {"caller": ..., "issued_at": ...}} in a JSON file."""

    def __init__(self, entries: Mapping[str, str] | None = None) -> None:
        self._callers = dict(entries or {})  # hash -> caller

    @classmethod
    def load(cls, path: Path | None) -> "TokenStore":
        if path is None or not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({digest: entry["caller"] for digest, entry in data.items()})

    def caller_for(self, token: str) -> str | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        return self._callers.get(token_hash(token))

    def __len__(self) -> int:
        return len(self._callers)


def issue_token(path: Path, caller: str) -> str:
    """Create a token for `caller`, store its hash in `path` (mode 0600) and return the token:
    the only time it exists in clear."""
    if not caller or len(caller) > 64 or not all(ch.isalnum() or ch in "-_." for ch in caller):
        raise ValueError("caller name: 1-64 letters, digits, '-', '_' or '.'")
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    token = new_token()
    data[token_hash(token)] = {"caller": caller, "issued_at": datetime.now(UTC).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer(value: str | None) -> str | None:
    """The token of an `authorization: Bearer <token>` value, or None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    """Resolves the caller system of a gRPC call or an HTTP request, or raises Unauthenticated.

    grpc_mode: "mtls" | "token" | "insecure-loopback"; http_mode: "token" | "none".
    In the loopback/none modes a valid bearer token still names its caller; without one the
    call runs as `anonymous_caller`.
    """

    def __init__(self, tokens: TokenStore, *, grpc_mode: str = "token", http_mode: str = "token",
                 anonymous_caller: str = "local-demo") -> None:
        self.tokens = tokens
        self.grpc_mode = grpc_mode
        self.http_mode = http_mode
        self.anonymous_caller = anonymous_caller

    def _token_caller(self, header: str | None, anonymous: bool) -> str:
        if header is None and anonymous:
            return self.anonymous_caller
        token = bearer(header)
        if token is None:
            raise Unauthenticated("a bearer token is required (authorization: Bearer <token>)")
        caller = self.tokens.caller_for(token)
        if caller is None:
            raise Unauthenticated("the bearer token is not valid")
        return caller

    def grpc_caller(self, context: grpc.aio.ServicerContext) -> str:
        if self.grpc_mode == "mtls":
            names = (context.auth_context() or {}).get("x509_common_name") or []
            if not names:
                raise Unauthenticated("a client certificate signed by the node's client CA is required")
            return names[0].decode("utf-8", "replace")
        header = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode("latin-1")
        return self._token_caller(header, anonymous=self.grpc_mode == "insecure-loopback")

    def http_caller(self, headers: Mapping[str, str]) -> str:
        return self._token_caller(headers.get("Authorization"), anonymous=self.http_mode == "none")


def server_credentials(mode: str, cert_file: Path | None, key_file: Path | None,
                       client_ca_file: Path | None) -> grpc.ServerCredentials | None:
    """gRPC server credentials for an auth mode; None for insecure-loopback."""
    if mode == "insecure-loopback":
        return None
    if cert_file is None or key_file is None:
        raise ValueError(f"grpc_auth={mode} needs security.tls_cert_file and security.tls_key_file")
    pair = [(key_file.read_bytes(), cert_file.read_bytes())]
    if mode == "mtls":
        if client_ca_file is None:
            raise ValueError("grpc_auth=mtls needs security.client_ca_file (the CA of caller certificates)")
        return grpc.ssl_server_credentials(pair, root_certificates=client_ca_file.read_bytes(),
                                           require_client_auth=True)
    return grpc.ssl_server_credentials(pair)


async def audit_refusal(trail, ctx: RequestContext, operation: str, department: str, exc: QueryError) -> None:
    """Record a call refused at the door (no caller): best effort, the refusal stands either way."""
    try:
        await trail.record(audit_id=uuid.uuid4().hex, ctx=ctx, operation=operation, department=department,
                           subject_index="", outcome=exc.reason, latency_ms=0.0)
    except QueryError:
        pass


def tokens_path(settings) -> Path:
    """Where the token hashes of `querynode.config.Settings` live."""
    return settings.security.tokens_file or settings.data_dir / "secrets" / "tokens.json"


def authenticator_for(settings) -> Authenticator:
    sec = settings.security
    if sec.http_auth == "none" and not is_loopback(settings.http.host):
        raise ValueError(f"http_auth=none is only allowed on a loopback host, not {settings.http.host}")
    return Authenticator(TokenStore.load(tokens_path(settings)), grpc_mode=sec.grpc_auth,
                         http_mode=sec.http_auth, anonymous_caller=settings.anonymous_caller)
