"""One typed settings object: embedded defaults, an optional YAML file, then
`QUERYNODE_*` environment variables (nested with `__`, e.g. QUERYNODE_GRPC__PORT=50052).

Secrets (department shared secrets, the node key) come from the environment or from
files named here, never from the repository.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from querynode.core.operations import registry


class Endpoint(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(ge=0, le=65535)


class BreakerSettings(BaseModel):
    """When a department's circuit opens and when it is probed again (querynode/core/breaker.py)."""

    consecutive_failures: int = Field(default=5, ge=1)
    failure_ratio: float = Field(default=0.5, gt=0, le=1)  # over the window, once min_calls ended
    min_calls: int = Field(default=20, ge=1)
    window_seconds: float = Field(default=30, gt=0)
    cool_down_seconds: float = Field(default=10, ge=0)
    half_open_probes: int = Field(default=1, ge=1)


class BulkheadSettings(BaseModel):
    """Calls in flight to a department and its request quota (querynode/core/bulkhead.py)."""

    max_concurrent: int = Field(default=32, ge=1)
    rate_per_second: float | None = Field(default=None, gt=0)  # the department's quota; None: none
    burst: int = Field(default=10, ge=1)


class RetryBudgetSettings(BaseModel):
    """Retries may add about `ratio` extra load in an outage (querynode/core/retry.py)."""

    ratio: float = Field(default=0.1, ge=0, le=1)
    max_credits: float = Field(default=10, ge=0)


class DepartmentSettings(BaseModel):
    """How to reach one department, how long its answers may be reused, how it is protected."""

    # Empty url/connector: the embedded default for this department (mock port, shipped connector),
    # so a YAML file or environment can change one field without restating the others.
    url: str = ""
    connector: str = ""  # "package.module:Class", wired at start-up
    app_id: str = "querynode"
    secret: SecretStr | None = None
    secret_file: Path | None = None
    ca_file: Path | None = None  # CA bundle that signs the department's TLS certificate
    # An http:// url is refused unless this says so; the node then warns at start-up and in /readyz.
    allow_plain_http: bool = False
    cache_ttl_seconds: float = Field(default=300, ge=0)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    bulkhead: BulkheadSettings = Field(default_factory=BulkheadSettings)
    retry_budget: RetryBudgetSettings = Field(default_factory=RetryBudgetSettings)
    options: dict[str, Any] = Field(default_factory=dict)

    def read_secret(self) -> str:
        if self.secret is not None:
            return self.secret.get_secret_value()
        if self.secret_file is not None:
            return self.secret_file.read_text().strip()
        return ""


def default_departments() -> dict[str, DepartmentSettings]:
    """Every registered department at its declared mock port, connector and cache time."""
    return {
        dept.name: DepartmentSettings(url=f"http://127.0.0.1:{dept.default_port}", connector=dept.connector,
                                      cache_ttl_seconds=dept.cache_ttl_seconds)
        for dept in registry().departments.values()
    }


class CacheSettings(BaseModel):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_entries: int = Field(default=100_000, ge=1)
    # How old a cached answer may be and still be served when the department fails.
    stale_max_age_seconds: float = Field(default=3600, ge=0)


class AuditSettings(BaseModel):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path | None = None  # default: <data_dir>/audit.sqlite
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/test"
    postgres_table: str = "querynode_audit"
    # `querynode audit purge` exports, then deletes, records older than this (Cybersecurity Law
    # art. 21: at least six months, so no less than 180 days).
    retention_days: int = Field(default=180, ge=180)
    export_dir: Path | None = None  # default: <data_dir>/audit-exports
    # Checkpoints of the chain head (MAC'd with the node's audit key), appended every
    # checkpoint_seconds and at close: put it on another volume than the audit database.
    witness_file: Path | None = None  # default: <data_dir>/audit-witness.jsonl
    checkpoint_seconds: float = Field(default=60, gt=0)
    # `querynode audit purge` connects with this (the purge role: SELECT, DELETE on the table,
    # INSERT on the anchors); the node's own role needs only INSERT and SELECT. Empty: postgres_dsn.
    purge_dsn: str = ""


class AbuseSettings(BaseModel):
    """Flag operators who look up many persons outside their cases (querynode/security/abuse.py)."""

    enabled: bool = True
    window_minutes: float = Field(default=60, gt=0)
    # Persons looked up under over-full case numbers, within the window, from which on the
    # operator's person lookups are flagged.
    distinct_subjects: int = Field(default=30, ge=1)
    # A case number under which more distinct persons were looked up is not a real case.
    subjects_per_case: int = Field(default=8, ge=1)
    # Invented ids, within the window: more distinct operator ids of one caller system, case
    # numbers of one operator, or case numbers one person was looked up under, are flagged.
    operators_per_caller: int = Field(default=20, ge=1)
    cases_per_operator: int = Field(default=60, ge=1)
    cases_per_subject: int = Field(default=3, ge=1)


class CallerSettings(BaseModel):
    """What one caller system may do (see querynode/security/authorization.py)."""

    operations: list[str] = Field(default_factory=lambda: ["*"])
    departments: list[str] = Field(default_factory=lambda: ["*"])
    view: Literal["verdict", "masked", "full"] = "masked"
    operator_limit_per_minute: int = Field(default=0, ge=0)  # 0: no limit
    # All lookups of this caller system per minute, whatever operator ids it sends; 0: no limit.
    caller_limit_per_minute: int = Field(default=0, ge=0)
    # The caller's operator roster and its case-number pattern (a regular expression the whole
    # number must match); calls outside them are refused. Empty: not checked.
    operators: list[str] = Field(default_factory=list)
    case_number_pattern: str = ""


class SecuritySettings(BaseModel):
    """Caller authentication, TLS material, field encryption and blind index."""

    # gRPC: "mtls" (client certificate from client_ca_file required; caller = subject CN),
    # "token" (TLS, `authorization: Bearer` metadata), "insecure-loopback" (plain text, loopback host only).
    grpc_auth: Literal["mtls", "token", "insecure-loopback"] = "mtls"
    # JSON API: "token" (Authorization: Bearer) or "none" (anonymous_caller; loopback host only).
    http_auth: Literal["token", "none"] = "token"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Serve the HTTP door (JSON API, clerk pages) over TLS with tls_cert_file/tls_key_file:
    # tokens, passwords and ID numbers then never cross a hop in clear, the edge's included.
    http_tls: bool = False
    client_ca_file: Path | None = None
    tokens_file: Path | None = None  # default: <data_dir>/secrets/tokens.json (hashes only)
    # Subject CNs accepted from client certificates (grpc_auth: mtls); empty: the names in
    # `callers`; both empty: no certificate is accepted (deny by default).
    certificate_callers: list[str] = Field(default_factory=list)
    # Addresses or networks of the reverse proxies (the edge nginx) whose X-Forwarded-For and
    # X-Forwarded-Proto the HTTP door believes; from anyone else those headers are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    field_cipher: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"
    # Field keys by key id (hex), or a file of "key_id hexkey" lines; none: derived from the node key.
    field_keys: dict[str, SecretStr] = Field(default_factory=dict)
    field_keys_file: Path | None = None
    field_key_current: str = ""  # default: the last key of the file (or the only key given)
    blind_index: Literal["sha256", "sm3"] = "sha256"


class DrillSettings(BaseModel):
    """Emergency drills (`querynode drill`, querynode/faults.py): with `enabled`, the node offers
    fault switches at /_admin/faults to the callers named in `admin_callers` (bearer token
    only). They act inside the node and never reach a department. Off by default: a node
    started without it refuses every switch."""

    enabled: bool = False
    admin_callers: list[str] = Field(default_factory=lambda: ["drill-admin"])


class RetrySettings(BaseModel):
    max_attempts: int = Field(default=3, ge=1, le=10)
    initial_backoff_seconds: float = Field(default=0.05, ge=0)
    max_backoff_seconds: float = Field(default=1.0, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUERYNODE_", env_nested_delimiter="__", extra="forbid")

    grpc: Endpoint = Endpoint(port=50051)
    http: Endpoint = Endpoint(port=8080)
    data_dir: Path = Path(".querynode")
    # Budget of a call that arrives without a deadline.
    default_deadline_seconds: float = Field(default=5.0, gt=0)
    # On SIGTERM: health NOT_SERVING and /readyz 503 for this long while calls are still
    # answered, then the servers stop, giving calls in flight default_deadline_seconds.
    drain_seconds: float = Field(default=2.0, ge=0)
    # Keyed by registered department name (connectors/<name>/declaration.py); an unknown name is an error.
    departments: dict[str, DepartmentSettings] = Field(default_factory=default_departments)
    cache: CacheSettings = CacheSettings()
    audit: AuditSettings = AuditSettings()
    abuse: AbuseSettings = AbuseSettings()
    security: SecuritySettings = SecuritySettings()
    retry: RetrySettings = RetrySettings()
    drill: DrillSettings = DrillSettings()
    # Node key for blind indexes (hex, >= 32 hex chars) or a file holding it; the demo creates one.
    node_key: SecretStr | None = None
    node_key_file: Path | None = None
    # Caller system -> the operations it may use (short form) or a CallerSettings.
    # Empty: every authenticated caller may use everything with the full view.
    callers: dict[str, CallerSettings | list[str]] = Field(default_factory=dict)
    # Case checks: plans file (default: the one shipped in querynode/core/plans.yaml), the
    # digest of verification records, and how long a pending (court) check may still run.
    case_plans_file: Path | None = None
    record_digest: Literal["sha256", "sm3"] = "sha256"
    case_pending_budget_seconds: float = Field(default=30.0, gt=0)
    # Caller name given to unauthenticated loopback calls in the embedded default.
    anonymous_caller: str = "local-demo"

    @model_validator(mode="after")
    def _department_defaults(self) -> "Settings":
        defaults = default_departments()
        unknown = sorted(set(self.departments) - set(defaults))
        if unknown:
            raise ValueError(f"departments: {', '.join(unknown)} not registered (known: {', '.join(defaults)})")
        for dept, conf in self.departments.items():
            if not conf.url:
                conf.url = defaults[dept].url
            if not conf.connector:
                conf.connector = defaults[dept].connector
            if "cache_ttl_seconds" not in conf.model_fields_set:
                conf.cache_ttl_seconds = defaults[dept].cache_ttl_seconds
        return self

    @model_validator(mode="after")
    def _callers_name_registered_scopes(self) -> "Settings":
        """A caller's operations and departments must be registered scopes and department names."""
        scopes = {op.scope for op in registry().operations.values()} | {"*"}
        names = set(registry().departments) | {"*"}
        for caller, spec in self.callers.items():
            policy = spec if isinstance(spec, CallerSettings) else CallerSettings(operations=spec)
            unknown = sorted((set(policy.operations) - scopes) | (set(policy.departments) - names))
            if unknown:
                raise ValueError(f"callers.{caller}: {', '.join(unknown)} not registered "
                                 f"(operations: {', '.join(sorted(scopes - {'*'}))})")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("QUERYNODE_CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    def audit_path(self) -> Path:
        return self.audit.sqlite_path or self.data_dir / "audit.sqlite"

    def witness_path(self) -> Path:
        return self.audit.witness_file or self.data_dir / "audit-witness.jsonl"

    def read_node_key(self) -> bytes:
        if self.node_key is not None:
            return bytes.fromhex(self.node_key.get_secret_value())
        if self.node_key_file is not None:
            return bytes.fromhex(self.node_key_file.read_text().strip())
        raise ValueError("no node key: set QUERYNODE_NODE_KEY or node_key_file (the demo creates one)")


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    if config_file:
        os.environ["QUERYNODE_CONFIG"] = config_file
    return Settings(**overrides)
