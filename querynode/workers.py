"""`querynode serve --workers N`: one parent process keeping N node processes on the same ports.

The parent never imports gRPC: each worker is a fresh interpreter (`querynode serve --worker`,
started with fork+exec), so no gRPC thread or channel is ever forked. Workers bind the gRPC
and HTTP ports with SO_REUSEPORT and the kernel spreads connections over them. The parent
forwards SIGTERM and SIGINT to every worker as SIGTERM (workers ignore SIGINT, so one Ctrl-C in
a terminal drains once, a second ends the drain), restarts a worker that ends on its own after
a growing back-off, and exits once every worker has stopped. A worker that fails before any
worker was ever ready stops the whole command (a configuration error is not retried forever).

Metrics: the workers share one `PROMETHEUS_MULTIPROC_DIR` (the one in the environment, else a
temporary one), emptied at start; the parent marks an ended worker dead so its live gauges
leave the sums. What each worker keeps in memory stays per worker: the memory cache,
single-flight, breakers, bulkheads and operator limits.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from querynode.config import Settings

log = logging.getLogger("querynode.workers")

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The line a worker prints once both its servers listen.
READY_LINE = "querynode worker ready"


class WorkerSettingsError(ValueError):
    """Settings that cannot run several workers."""


def check_settings(settings: Settings, count: int) -> None:
    """Refuse what cannot be shared by several workers; warn about what is not shared."""
    if count < 1:
        raise WorkerSettingsError(f"--workers must be at least 1, not {count}")
    if count == 1:
        return
    zero = [name for name, port in (("grpc.port", settings.grpc.port), ("http.port", settings.http.port)) if port == 0]
    if zero:
        raise WorkerSettingsError(f"--workers {count} needs fixed ports: {', '.join(zero)} is 0 "
                                  f"(a port picked at random cannot be shared by the workers)")
    if settings.cache.backend == "memory":
        log.warning("cache.backend is memory: each of the %d workers keeps its own cache; "
                    "use cache.backend: redis to share answers between them", count)


def prepare_metrics_dir(count: int) -> tuple[str | None, bool]:
    """The multiprocess metrics folder: the environment's (emptied of old values), or with
    several workers a new temporary one. Returns it and whether it is temporary. Run before
    anything imports `querynode.observability.metrics`."""
    named = os.environ.get(METRICS_DIR_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):  # values of an earlier run, live gauges of dead processes
            old.unlink()
        return named, False
    if count > 1:
        return tempfile.mkdtemp(prefix="querynode-metrics-"), True
    return None, False


def serve(settings: Settings, count: int, config_file: str | None) -> int:
    """Run `count` workers until SIGTERM/SIGINT; the exit status for the command."""
    check_settings(settings, count)
    folder, temporary = prepare_metrics_dir(count)
    assert folder is not None
    command = [sys.executable, "-m", "querynode", "serve", "--worker"]
    if config_file:
        command += ["--config", config_file]
    try:
        return asyncio.run(Supervisor(command, count, {**os.environ, METRICS_DIR_ENV: folder}, folder).run())
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


class Supervisor:
    def __init__(self, command: list[str], count: int, env: dict[str, str], metrics_dir: str, *,
                 first_backoff: float = 1.0, max_backoff: float = 30.0, steady_after: float = 60.0) -> None:
        self.command, self.count, self.env, self.metrics_dir = command, count, env, metrics_dir
        self.first_backoff, self.max_backoff, self.steady_after = first_backoff, max_backoff, steady_after
        self.stopping = asyncio.Event()
        self.failed = False
        self.any_ready = False
        self.running: dict[int, asyncio.subprocess.Process] = {}

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        codes = await asyncio.gather(*(self._slot(n) for n in range(self.count)))
        log.info("all %d workers stopped", self.count)
        return 1 if self.failed or any(codes) else 0

    def stop(self) -> None:
        """Ask every worker to drain and stop; a second call ends their drain early."""
        self.stopping.set()
        for proc in self.running.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)

    async def _slot(self, n: int) -> int:
        """Keep worker n running until stopped; its last exit status (0 for a clean stop)."""
        from prometheus_client import multiprocess  # files only; creates no metric

        loop = asyncio.get_running_loop()
        backoff = self.first_backoff
        while not self.stopping.is_set():
            proc = await asyncio.create_subprocess_exec(*self.command, env=self.env, stdout=asyncio.subprocess.PIPE)
            self.running[n] = proc
            if self.stopping.is_set():  # the signal came while it started
                proc.send_signal(signal.SIGTERM)
            started = loop.time()
            ready = await self._forward_output(proc)
            code = await proc.wait()
            del self.running[n]
            multiprocess.mark_process_dead(proc.pid, self.metrics_dir)
            if self.stopping.is_set():
                clean = code in (0, -signal.SIGTERM)  # -SIGTERM: stopped before it set its handler
                log.info("worker %d (pid %d) stopped with exit status %s", n, proc.pid, code)
                return 0 if clean else 1
            if not ready and not self.any_ready:
                log.error("worker %d (pid %d) failed at start-up with exit status %s; stopping", n, proc.pid, code)
                self.failed = True
                self.stop()
                return 1
            if loop.time() - started >= self.steady_after:
                backoff = self.first_backoff
            log.error("worker %d (pid %d) ended unexpectedly with exit status %s; restarting in %.1f s",
                      n, proc.pid, code, backoff)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self.stopping.wait()
            backoff = min(backoff * 2, self.max_backoff)
        return 0

    async def _forward_output(self, proc: asyncio.subprocess.Process) -> bool:
        """Pass the worker's standard output on until it ends; whether the worker became ready."""
        assert proc.stdout is not None
        ready = False
        async for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if line.startswith(READY_LINE):
                ready = self.any_ready = True
            sys.stdout.write(line)
            sys.stdout.flush()
        return ready


async def watch_parent(stop: asyncio.Queue, interval: float = 1.0) -> None:
    """In a worker: stop as on SIGTERM when the parent is gone (killed without forwarding)."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(interval)
    log.error("the parent process %d is gone; stopping", parent)
    stop.put_nowait(signal.SIGTERM)
