"""Drill fault switches, node side: what `querynode drill` turns on in a node started with
`drill.enabled` (an emergency drill, 应急演练).

They reuse the mock departments' fault vocabulary (`querynode/fault_plan.py`, `FaultPlan`: error_rate,
latency, hang_rate, throttle_rate, malformed_rate, fail_next, maintenance_seconds, ...), but
apply it inside the node, in front of each connector: while a department has a plan, the
node answers as if the department misbehaved that way and never sends it the request. Two
switches stand for the node's own dependencies: the cache backend (every get/set fails) and
the audit store (every write fails, not writable). A fourth, `kill_worker`, ends the worker
process that receives it (only under `serve --workers N`, whose parent restarts it).

Set over HTTP (querynode/api/http/drill_admin.py): `POST /_admin/faults` with
{"departments": {"identity": {"error_rate": 1}}, "cache_down": true, "audit_unwritable": true}
replaces the switches; `{}` clears them; `GET /_admin/faults` shows them. The switches live in
one file in the data folder, <data_dir>/drill-switches.json, so that every worker of
`serve --workers N` follows what one of them was told; `serve` and `demo` remove a stale one
at start.
"""
from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import BadUpstream, CallInfo, Connector, RateLimited, Timeout, Unavailable
from querynode.fault_plan import FaultPlan
from querynode.domain.model import Department


class FaultSwitches(BaseModel):
    model_config = ConfigDict(extra="forbid")

    departments: dict[Department, FaultPlan] = Field(default_factory=dict)
    cache_down: bool = False
    audit_unwritable: bool = False


def switches_path(data_dir: Path) -> Path:
    return data_dir / "drill-switches.json"


def remove_stale_switches(data_dir: Path) -> None:
    """Start without faults left by a drill that did not clear them."""
    switches_path(data_dir).unlink(missing_ok=True)


class DrillFaults:
    """The switches as this process sees them: the shared file, re-read when it changes."""

    def __init__(self, path: Path, rng: random.Random | None = None) -> None:
        self.path = path
        self.rng = rng or random.Random()
        self._switches = FaultSwitches()
        self._version: tuple[int, int] | None = None
        self._fail_left: dict[Department, int] = {}
        self._maintenance_until: dict[Department, float] = {}

    def set(self, switches: FaultSwitches) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(switches.model_dump_json(exclude_defaults=True), encoding="utf-8")
        os.replace(tmp, self.path)
        self._version = None  # read back at once, whatever the file time says

    @property
    def switches(self) -> FaultSwitches:
        try:
            stat = self.path.stat()
            version = (stat.st_ino, stat.st_mtime_ns)  # os.replace: a new inode on every change
        except FileNotFoundError:
            version = (0, 0)
        if version != self._version:
            self._version = version
            try:
                self._switches = FaultSwitches.model_validate_json(self.path.read_bytes()) if version[0] \
                    else FaultSwitches()
            except FileNotFoundError:  # removed since the stat: cleared
                self._switches = FaultSwitches()
            now = time.monotonic()
            self._fail_left = {d: p.fail_next for d, p in self._switches.departments.items()}
            self._maintenance_until = {d: now + p.maintenance_seconds for d, p in self._switches.departments.items()}
        return self._switches

    def describe(self) -> dict[str, Any]:
        return self.switches.model_dump(mode="json", exclude_defaults=True)

    async def before_lookup(self, department: Department, call: CallInfo) -> None:
        """Raise what the department's plan says, or return to let the lookup go ahead."""
        plan = self.switches.departments.get(department)
        if plan is None:
            return
        name, rng = department.value, self.rng
        if self._maintenance_until.get(department, 0) > time.monotonic():
            raise Unavailable(f"{name}: HTTP 503 (drill: maintenance)")
        if self._fail_left.get(department, 0) > 0:
            self._fail_left[department] -= 1
            raise Unavailable(f"{name}: HTTP 503 (drill: injected failure)")
        delay = plan.delay_seconds(rng)
        if rng.random() < plan.hang_rate:
            delay = float("inf")
        if delay:
            if delay >= call.timeout:  # the department would still be silent when the call gives up
                await asyncio.sleep(max(0.0, call.timeout))
                raise Timeout(f"{name}: no answer within {call.timeout:.2f} s (drill: slow department)")
            await asyncio.sleep(delay)
        if rng.random() < plan.reset_rate:
            raise Unavailable(f"{name}: connection reset (drill)")
        if rng.random() < plan.throttle_rate:
            raise RateLimited(f"{name}: HTTP 429 (drill: quota)", retry_after=plan.retry_after_seconds)
        if rng.random() < plan.error_rate:
            raise Unavailable(f"{name}: HTTP 503 (drill: department down)")
        if rng.random() < plan.malformed_rate:
            raise BadUpstream(f"{name}: reply is not the protocol (drill)")

    def check_cache(self) -> None:
        if self.switches.cache_down:
            raise ConnectionError("cache backend down (drill)")

    def check_audit(self) -> None:
        if self.switches.audit_unwritable:
            raise OSError("audit store not writable (drill)")


class DrillConnector(Connector):
    """A connector behind the drill switches: the department is asked only when its plan lets
    the lookup through."""

    def __init__(self, inner: Connector, faults: DrillFaults) -> None:
        self.inner = inner
        self.faults = faults
        self.department = inner.department
        self.config = inner.config

    async def lookup(self, query: Any, call: CallInfo) -> Any:
        await self.faults.before_lookup(self.department, call)
        return await self.inner.lookup(query, call)

    async def close(self) -> None:
        await self.inner.close()


class DrillCacheBackend:
    """The cache backend behind the `cache_down` switch (ResultCache uses get, set and close)."""

    def __init__(self, inner: Any, faults: DrillFaults) -> None:
        self.inner = inner
        self.faults = faults

    async def get(self, key: str) -> Any:
        self.faults.check_cache()
        return await self.inner.get(key)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> Any:
        self.faults.check_cache()
        return await self.inner.set(key, value, ttl=ttl)

    async def close(self) -> None:
        await self.inner.close()


class DrillAuditStore:
    """The audit store behind the `audit_unwritable` switch: appends fail and it reports itself
    not writable; everything else (search, verify, purge) goes to the store."""

    def __init__(self, inner: Any, faults: DrillFaults) -> None:
        self.inner = inner
        self.faults = faults

    async def append(self, record: Any) -> None:
        self.faults.check_audit()
        await self.inner.append(record)

    async def writable(self) -> bool:
        return not self.faults.switches.audit_unwritable and await self.inner.writable()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
