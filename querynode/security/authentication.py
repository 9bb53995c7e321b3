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
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from querynode.domain.errors import QueryError, Unauthenticated
from querynode.core.audit import UNAUTHENTICATED_CALLER  # noqa: F401 - named here for the doors
from querynode.domain.model import RequestContext
from querynode.observability import metrics

TOKEN_PREFIX = "qn_"
_MAX_TOKEN_CHARS = 256


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


TOKEN_DAYS = 90  # default life of a token
EXPIRY_WARNING_DAYS = 14  # querynode_tokens_expiring_soon counts tokens this close to expiry


class TokenStore:
    """Bearer tokens by hash in a JSON file: {sha256 hex: {"caller", "issued_at", "expires_at"}}.

    The file is re-read whenever it changes (checked on each use: one stat), so `querynode
    token issue|revoke|rotate` take effect without a restart. A token is valid until its
    `expires_at`; an entry without one (written before tokens expired) until issued_at + 90 days."""

    def __init__(self, entries: Mapping[str, Mapping] | None = None, *, path: Path | None = None,
                 clock=lambda: datetime.now(UTC)) -> None:
        self.path = path
        self._clock = clock
        self._stamp: tuple | None = None
        self._entries: dict[str, dict] = {}
        self._set(entries or {})

    @classmethod
    def load(cls, path: Path | None, **kwargs) -> "TokenStore":
        store = cls(path=path, **kwargs)
        store.refresh()
        return store

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read (a missing file: no tokens)."""
        if self.path is None:
            return
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        self._set(read_tokens(self.path) if stamp is not None else {})
        self._stamp = stamp

    def _set(self, entries: Mapping[str, Mapping]) -> None:
        self._entries = {digest: {**entry, "expires": expires_at(entry)} for digest, entry in entries.items()}
        now = self._clock()
        soon = now + timedelta(days=EXPIRY_WARNING_DAYS)
        metrics.TOKENS_VALID.set(sum(e["expires"] > now for e in self._entries.values()))
        metrics.TOKENS_EXPIRING_SOON.set(sum(now < e["expires"] <= soon for e in self._entries.values()))

    def caller_for(self, token: str) -> str | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        self.refresh()
        entry = self._entries.get(token_hash(token))
        if entry is None or entry["expires"] <= self._clock():
            return None
        return entry["caller"]

    def __len__(self) -> int:
        return len(self._entries)


def expires_at(entry: Mapping) -> datetime:
    if entry.get("expires_at"):
        return datetime.fromisoformat(entry["expires_at"])
    issued = entry.get("issued_at")
    return datetime.fromisoformat(issued) + timedelta(days=TOKEN_DAYS) if issued else datetime.min.replace(tzinfo=UTC)


def read_tokens(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_tokens(path: Path, data: Mapping) -> None:
    """Replace the file atomically (mode 0600): a node reading it sees the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def issue_token(path: Path, caller: str, days: float = TOKEN_DAYS) -> str:
    """Create a token for `caller` valid for `days`, store its hash in `path` (mode 0600) and
    return the token: the only time it exists in clear."""
    if not caller or len(caller) > 64 or not all(ch.isalnum() or ch in "-_." for ch in caller):
        raise ValueError("caller name: 1-64 letters, digits, '-', '_' or '.'")
    if days <= 0:
        raise ValueError("a token must be valid for more than 0 days")
    data = read_tokens(path)
    token = new_token()
    now = datetime.now(UTC)
    data[token_hash(token)] = {"caller": caller, "issued_at": now.isoformat(timespec="seconds"),
                               "expires_at": (now + timedelta(days=days)).isoformat(timespec="seconds")}
    _write_tokens(path, data)
    return token


def token_id(digest: str) -> str:
    """How `querynode token list` names a token: the first 12 hex digits of its hash."""
    return digest[:12]


def list_tokens(path: Path) -> list[tuple[str, str, str, str]]:
    """(id, caller, issued_at, expires_at) of every stored token, soonest expiry first."""
    rows = [(token_id(d), e["caller"], e.get("issued_at", "?"), expires_at(e).isoformat(timespec="seconds"))
            for d, e in read_tokens(path).items()]
    return sorted(rows, key=lambda row: row[3])


def revoke_tokens(path: Path, *, token: str | None = None, caller: str | None = None) -> int:
    """Remove the tokens whose id starts with `token` (at least 8 hex digits), or all of
    `caller`'s; the number removed."""
    if token is not None and len(token) < 8:
        raise ValueError("give at least 8 hex digits of the token id (querynode token list)")
    data = read_tokens(path)
    keep = {d: e for d, e in data.items()
            if not ((token is not None and d.startswith(token.lower())) or (caller is not None and e["caller"] == caller))}
    if len(keep) != len(data):
        _write_tokens(path, keep)
    return len(data) - len(keep)


def rotate_token(path: Path, caller: str, *, days: float = TOKEN_DAYS, grace_hours: float = 24) -> str:
    """A new token for `caller`; its older tokens expire after `grace_hours` (sooner if due)."""
    token = issue_token(path, caller, days)
    data = read_tokens(path)
    until = datetime.now(UTC) + timedelta(hours=grace_hours)
    new = token_hash(token)
    for digest, entry in data.items():
        if entry["caller"] == caller and digest != new and expires_at(entry) > until:
            entry["expires_at"] = until.isoformat(timespec="seconds")
    _write_tokens(path, data)
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
                 anonymous_caller: str = "local-demo", certificate_callers: frozenset[str] = frozenset()) -> None:
        self.tokens = tokens
        self.grpc_mode = grpc_mode
        self.http_mode = http_mode
        self.anonymous_caller = anonymous_caller
        # Subject CNs accepted from client certificates: deny by default (none: no certificate).
        self.certificate_callers = frozenset(certificate_callers)

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
            caller = names[0].decode("utf-8", "replace").strip() if len(names) == 1 else ""
            if not caller:
                raise Unauthenticated("a client certificate with one subject CN, signed by the node's client CA, "
                                      "is required")
            if caller not in self.certificate_callers:
                raise Unauthenticated("the client certificate's subject is not a caller of this node")
            return caller
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
    """Record a call refused at the door (no caller): best effort, the refusal stands either
    way; past a few a minute from one source, counted into one summary record
    (AuditTrail.record_refusal)."""
    await trail.record_refusal(ctx, operation, department, exc)


def tokens_path(settings) -> Path:
    """Where the token hashes of `querynode.config.Settings` live."""
    return settings.security.tokens_file or settings.data_dir / "secrets" / "tokens.json"


def authenticator_for(settings) -> Authenticator:
    sec = settings.security
    if sec.http_auth == "none" and not is_loopback(settings.http.host):
        raise ValueError(f"http_auth=none is only allowed on a loopback host, not {settings.http.host}")
    return Authenticator(TokenStore.load(tokens_path(settings)), grpc_mode=sec.grpc_auth,
                         http_mode=sec.http_auth, anonymous_caller=settings.anonymous_caller,
                         certificate_callers=certificate_callers(settings))


def certificate_callers(settings) -> frozenset[str]:
    """The subject CNs accepted from client certificates: security.certificate_callers, else
    the callers configured in `callers`; neither: none (deny by default)."""
    return frozenset(settings.security.certificate_callers or settings.callers)
