"""Readiness: whether the node may answer, checked in the background.

The node answers only when every query can leave its audit record (it fails closed), so
readiness is "the audit store is writable". `AuditWatch` checks that every `interval`
seconds, keeps `querynode_audit_store_writable` current and tells its listeners (the gRPC
health service) when the answer changes.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from querynode.observability import metrics

log = logging.getLogger("querynode.health")


class AuditWatch:
    def __init__(self, writable: Callable[[], Awaitable[bool]], interval: float = 1.0) -> None:
        self._writable = writable
        self.interval = interval
        self.ready: bool | None = None
        self._listeners: list[Callable[[bool], Awaitable[None]]] = []
        self._task: asyncio.Task | None = None
        self.draining = False

    async def drain(self) -> None:
        """The node is shutting down: not ready from now on, whatever the store says, so load
        balancers move away while the calls already sent are still answered."""
        self.draining = True
        await self.stop()
        if self.ready is not False:
            self.ready = False
            for listener in self._listeners:
                await listener(False)

    async def check(self) -> bool:
        """Check now; tell the listeners if the answer changed."""
        try:
            ready = await self._writable()
        except Exception:  # noqa: BLE001 - a failing check means not ready
            ready = False
        metrics.AUDIT_STORE_WRITABLE.set(1 if ready else 0)
        if ready != self.ready:
            self.ready = ready
            if not ready:
                log.error("audit store not writable: node not ready")
            else:
                log.info("audit store writable: node ready")
            for listener in self._listeners:
                await listener(ready)
        return ready

    async def subscribe(self, listener: Callable[[bool], Awaitable[None]]) -> None:
        self._listeners.append(listener)
        if self.ready is not None:
            await listener(self.ready)

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._run(), name="querynode-audit-watch")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
