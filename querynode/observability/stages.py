"""Per-stage timers for `make bench`: where one call's CPU and wall time go.

Off by default, and then free: `stage(name)` checks one module-level name and hands back a
shared no-op context manager (no allocation, no clock read). `recording()` turns them on
for a block; every stage that ends meanwhile appends (name, cpu_us, wall_us) to one list.
CPU is the calling thread's (`time.thread_time`): the event loop's share, not the work
other threads do (aiosqlite's writer, grpc's I/O threads). Stages that await include
whatever else the loop ran meanwhile, so the benchmark drives one call at a time.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

# The stages of one lookup, in the order a call meets them (the bench prints them so).
STAGES = ("decode", "authentication", "validation", "blind_index", "authorization", "abuse", "cache", "audit_intent",
          "connector", "cache_put", "audit", "response", "encode", "metrics", "logging")

_records: list[tuple[str, float, float]] | None = None  # None: timers off


class _Off:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


_OFF = _Off()


class _Timer:
    __slots__ = ("name", "records", "cpu", "wall")

    def __init__(self, name: str, records: list) -> None:
        self.name, self.records = name, records

    def __enter__(self) -> None:
        self.cpu, self.wall = time.thread_time(), time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.records.append((self.name, (time.thread_time() - self.cpu) * 1e6,
                             (time.perf_counter() - self.wall) * 1e6))


def stage(name: str):
    """`with stage("audit"): ...` times the block when timers are on; nothing otherwise."""
    records = _records
    if records is None:
        return _OFF
    return _Timer(name, records)


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[str, float, float]]]:
    """Timers on for the block; yields the list the stages append to (name, cpu_us, wall_us)."""
    global _records
    if _records is not None:
        raise RuntimeError("stage timers are already recording")
    _records = records = []
    try:
        yield records
    finally:
        _records = None


def per_call(records: list[tuple[str, float, float]]) -> dict[str, tuple[float, float]]:
    """Sum one call's records by stage: name -> (cpu_us, wall_us)."""
    totals: dict[str, tuple[float, float]] = {}
    for name, cpu, wall in records:
        old_cpu, old_wall = totals.get(name, (0.0, 0.0))
        totals[name] = (old_cpu + cpu, old_wall + wall)
    return totals
