"""The composition root: build a running node (hub, stores, connectors) from Settings.

The only module that names concrete connectors, and only through the import paths in
configuration.
"""
from __future__ import annotations

import importlib
import math
import logging
from dataclasses import dataclass

from connectors.base import Connector, ConnectorConfig
from querynode.config import Settings
from querynode.core.audit import AuditTrail
from querynode.core.casecheck import CaseChecker
from querynode.core.plans import Plans
from querynode.core.cache import BoundedMemoryCache, ResultCache
from querynode.core.breaker import BreakerPolicy, CircuitBreaker
from querynode.core.bulkhead import Bulkhead, BulkheadPolicy
from querynode.core.hub import Guards, Hub
from querynode.core.retry import RetryBudget, RetryPolicy
from querynode.faults import DrillAuditStore, DrillCacheBackend, DrillConnector, DrillFaults, switches_path
from querynode.observability.health import AuditWatch
from querynode.security.audit_store import PostgresAuditStore, SqliteAuditStore, store_for
from querynode.security.abuse import AbuseDetector
from querynode.security.authorization import Authorizer
from querynode.security.blind_index import BlindIndex
from querynode.security.field_crypto import cipher_for
from querynode.security.record_store import RecordStore
from querynode.security.records import RecordSigner


log = logging.getLogger("querynode.node")


def _load_connector(dept: str, settings: Settings) -> Connector:
    conf = settings.departments[dept]
    if not conf.url.startswith("https://") and not conf.allow_plain_http:
        raise ValueError(f"department {dept}: {conf.url.split('://')[0]}:// is not encrypted; use https:// "
                         f"with ca_file, or set allow_plain_http: true for this department")
    module_name, _, class_name = conf.connector.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(ConnectorConfig(
        base_url=conf.url, app_id=conf.app_id, secret=conf.read_secret(),
        ca_file=str(conf.ca_file) if conf.ca_file else None, options=dict(conf.options),
    ))


def _guards(dept: str, settings: Settings) -> Guards:
    conf = settings.departments[dept]
    rate = conf.bulkhead.rate_per_second
    return Guards(
        breaker=CircuitBreaker(dept, BreakerPolicy(**conf.breaker.model_dump())),
        bulkhead=Bulkhead(dept, BulkheadPolicy(conf.bulkhead.max_concurrent,
                                                     rate if rate is not None else math.inf, conf.bulkhead.burst)),
        retry_budget=RetryBudget(conf.retry_budget.ratio, conf.retry_budget.max_credits),
    )


def _cache_backend(settings: Settings):
    if settings.cache.backend == "redis":
        from aiocache import RedisCache
        from aiocache.serializers import NullSerializer
        from urllib.parse import urlparse

        url = urlparse(settings.cache.redis_url)
        # encoding=None: values are sealed bytes, handed back as stored.
        return RedisCache(serializer=NullSerializer(encoding=None), endpoint=url.hostname or "127.0.0.1",
                          port=url.port or 6379, db=int((url.path or "/0").lstrip("/") or 0),
                          namespace="querynode", timeout=None)
    return BoundedMemoryCache(max_entries=settings.cache.max_entries, timeout=None)


@dataclass
class Node:
    settings: Settings
    hub: Hub
    audit_store: SqliteAuditStore | PostgresAuditStore
    cases: CaseChecker
    record_store: RecordStore
    # Departments reached over plain HTTP (allow_plain_http); said at start-up and in /readyz.
    plain_http_departments: tuple[str, ...] = ()
    # Checks the audit store in the background; drives gRPC health (readiness).
    audit_watch: AuditWatch | None = None
    # The drill's fault switches (drill.enabled), in front of connectors, cache and audit store.
    faults: DrillFaults | None = None

    @classmethod
    async def start(cls, settings: Settings) -> "Node":
        # Everything that can fail on configuration comes before anything that opens files.
        index = BlindIndex(settings.read_node_key(), settings.security.blind_index)
        cipher = cipher_for(settings)
        connectors = {dept: _load_connector(dept, settings) for dept in settings.departments}
        plans = Plans.load(settings.case_plans_file)
        signer = RecordSigner(settings.read_node_key(), settings.record_digest)
        audit_store = store_for(settings)
        await audit_store.open()
        cache_backend = _cache_backend(settings)
        faults = DrillFaults(switches_path(settings.data_dir)) if settings.drill.enabled else None
        if faults is not None:
            log.warning("drill mode: fault switches at /_admin/faults for %s", ", ".join(settings.drill.admin_callers))
            connectors = {dept: DrillConnector(c, faults) for dept, c in connectors.items()}
            cache_backend = DrillCacheBackend(cache_backend, faults)
            audit_store = DrillAuditStore(audit_store, faults)
        cache = ResultCache(
            cache_backend,
            {dept: conf.cache_ttl_seconds for dept, conf in settings.departments.items()},
            settings.cache.stale_max_age_seconds, cipher,
        )
        hub = Hub(
            connectors=connectors, audit=AuditTrail(audit_store), cache=cache,
            authorizer=Authorizer(settings.callers), index=index,
            retry=RetryPolicy(settings.retry.max_attempts, settings.retry.initial_backoff_seconds,
                              settings.retry.max_backoff_seconds),
            guards={dept: _guards(dept, settings) for dept in connectors},
            default_deadline_seconds=settings.default_deadline_seconds,
            abuse=AbuseDetector.from_settings(settings.abuse),
        )
        record_store = RecordStore(settings.audit_path())
        await record_store.open()
        cases = CaseChecker(hub, plans, record_store, signer, pending_budget_seconds=settings.case_pending_budget_seconds)
        plain = tuple(dept for dept, conf in settings.departments.items() if not conf.url.startswith("https://"))
        if plain:
            log.warning("departments reached over plain HTTP (allow_plain_http): %s", ", ".join(plain))
        audit_watch = AuditWatch(audit_store.writable)
        await audit_watch.start()
        return cls(settings=settings, hub=hub, audit_store=audit_store, cases=cases, record_store=record_store,
                   plain_http_departments=plain, audit_watch=audit_watch, faults=faults)

    async def close(self) -> None:
        if self.audit_watch is not None:
            await self.audit_watch.stop()
        await self.cases.close()
        await self.record_store.close()
        for connector in self.hub.connectors.values():
            await connector.close()
        await self.hub.cache.backend.close()
        await self.audit_store.close()
