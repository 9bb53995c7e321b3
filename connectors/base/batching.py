"""One department call for the lookups of one case that arrive together.

The hub keeps one path per query: cache, audit and verdict stay per query. Below it, a connector
whose department takes several subjects per call (公安 身份核查 `Conditions[]`) hands its lookups to
a `CaseBatcher`: lookups of the same case and operator (`CallInfo.case_number`, `operator_id`) that
reach it in the same event-loop tick go out as one call at the end of that tick. A case check
starts all its checks at once, so they arrive together; a lone lookup waits for nothing but the
rest of the tick it arrived in.

- A batch holds at most `max_size` lookups, and only lookups `fits` accepts beside the others (a
  full batch goes out at once; one that does not fit starts a batch of its own).
- `send(queries, call)` answers with one outcome per query, in order: a result, or the typed
  error for that query alone. When the call itself fails, every member gets the same typed error.
- A member that is cancelled (its caller left, its deadline passed) leaves the others waiting for
  their answers; the call is cancelled only when every member has left.
"""
from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from connectors.base.contract import CallInfo

Send = Callable[[list[Any], CallInfo], Awaitable[Sequence[Any]]]


@dataclasses.dataclass
class _Member:
    query: Any
    call: CallInfo
    future: asyncio.Future


@dataclasses.dataclass
class _Batch:
    members: list[_Member] = dataclasses.field(default_factory=list)
    task: asyncio.Task | None = None
    sent: bool = False


class CaseBatcher:
    def __init__(self, send: Send, *, max_size: int,
                 fits: Callable[[list[Any], Any], bool] = lambda queries, query: True) -> None:
        if max_size < 1:
            raise ValueError("a batch holds at least one lookup")
        self._send = send
        self.max_size = max_size
        self._fits = fits
        self._open: dict[tuple[str, str], _Batch] = {}
        self._running: set[asyncio.Task] = set()

    async def submit(self, query: Any, call: CallInfo) -> Any:
        """The outcome of `query`, asked together with the lookups of its case in this tick."""
        loop = asyncio.get_running_loop()
        key = (call.case_number, call.operator_id)
        batch = self._open.get(key)
        if batch is None or not self._fits([m.query for m in batch.members], query):
            batch = self._open[key] = _Batch()  # one that did not fit still goes out at the tick's end
            loop.call_soon(self._flush, key, batch)
        member = _Member(query, call, loop.create_future())
        batch.members.append(member)
        if len(batch.members) >= self.max_size:
            self._flush(key, batch)
        try:
            return await asyncio.shield(member.future)
        except asyncio.CancelledError:
            member.future.cancel()
            if batch.task is not None and all(m.future.done() for m in batch.members):
                batch.task.cancel()  # nobody is left to read the answer
            raise

    def _flush(self, key: tuple[str, str], batch: _Batch) -> None:
        if batch.sent:
            return
        batch.sent = True
        if self._open.get(key) is batch:
            del self._open[key]
        members = [m for m in batch.members if not m.future.done()]
        if members:
            batch.task = asyncio.ensure_future(self._run(members))
            self._running.add(batch.task)
            batch.task.add_done_callback(self._running.discard)

    async def _run(self, members: list[_Member]) -> None:
        call = dataclasses.replace(members[0].call, timeout=max(m.call.timeout for m in members))
        try:
            outcomes = list(await self._send([m.query for m in members], call))
            if len(outcomes) != len(members):
                raise RuntimeError("a batch call answered a different number of lookups")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every member learns it (a typed error, or a bug)
            outcomes = [exc] * len(members)
        for member, outcome in zip(members, outcomes, strict=True):
            if member.future.done():
                continue
            if isinstance(outcome, BaseException):
                member.future.set_exception(copy.copy(outcome))  # each caller raises its own
            else:
                member.future.set_result(outcome)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
