"""`querynode serve --workers N` as real processes: two workers on one pair of ports, metrics
summed over them, one audit chain in one SQLite file, restart of a dead worker, graceful
drain on SIGTERM. Redis is the real local one (the suite fails, never skips, without it)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from querynode.v1 import querynode_pb2 as pb
from querynode.v1 import querynode_pb2_grpc
from querynode.workers import READY_LINE
from tests.conftest import APP_ID, ctx, json_ctx, sqlite_audit
from tests.test_observability import value
from tests.test_resilience import matching
from tests.test_security_audit import record

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_config(folder: Path, identity_url: str, secret: str, *, node_key: str | None = None, **overrides) -> Path:
    """A YAML settings file for `querynode serve` on fixed free loopback ports."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "grpc": {"host": "127.0.0.1", "port": free_port()},
        "http": {"host": "127.0.0.1", "port": free_port()},
        "data_dir": str(folder),
        "node_key": node_key or secrets.token_hex(32),
        "drain_seconds": 0.2,
        "default_deadline_seconds": 3,
        "security": {"grpc_auth": "insecure-loopback", "http_auth": "none"},
        "cache": {"backend": "redis", "redis_url": REDIS_URL},
        "departments": {"identity": {
            "url": identity_url, "connector": "connectors.identity:IdentityConnector", "app_id": APP_ID,
            "secret": secret, "allow_plain_http": True}},
        **overrides,
    }
    path = folder / "querynode.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class Served:
    """A running `querynode serve` process (the parent when it has workers)."""

    proc: asyncio.subprocess.Process
    config: dict
    stderr: Path
    worker_pids: list[int]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.config['http']['port']}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.config['grpc']['port']}"

    async def next_ready_pid(self) -> int:
        """Read the forwarded output up to the next worker's ready line."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while line := (await self.proc.stdout.readline()).decode():
                if line.startswith(READY_LINE):
                    return int(line.split()[-1])
        raise AssertionError(f"no worker became ready:\n{self.stderr.read_text()}")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(60):
            await self.proc.communicate()
        return self.proc.returncode


async def serve(config: Path, *args: str, env: dict | None = None) -> Served:
    """Start `querynode serve --config FILE ARGS` and wait until it listens."""
    stderr = config.parent / f"serve-{secrets.token_hex(4)}.log"
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "querynode", "serve", "--config", str(config), *args, cwd=ROOT,
            env={**os.environ, **(env or {})}, stdout=asyncio.subprocess.PIPE, stderr=err)
    served = Served(proc, yaml.safe_load(config.read_text(encoding="utf-8")), stderr, [])
    if "--workers" in args:
        for _ in range(int(args[args.index("--workers") + 1])):
            served.worker_pids.append(await served.next_ready_pid())
    else:
        await until_ready(served.http_url, served)
    return served


async def until_ready(http_url: str, served: Served) -> None:
    async with asyncio.timeout(60):
        while True:
            assert served.proc.returncode is None, served.stderr.read_text()
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{http_url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)


def person_body(person: dict, **context) -> dict:
    return {"context": json_ctx(**context), "id_number": person["id_number"], "name": person["name"]}


async def pid_then_lookup(http_url: str, person: dict) -> int:
    """On one new connection: ask the worker its pid, then make one lookup on it."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
        async with s.get(f"{http_url}/healthz") as r:
            pid = (await r.json())["pid"]
        async with s.post(f"{http_url}/api/v1/identity/verify", json=person_body(person)) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["verdict"] == "MATCH"
    return pid


async def pid_then_metrics(http_url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
        async with s.get(f"{http_url}/healthz") as r:
            pid = (await r.json())["pid"]
        async with s.get(f"{http_url}/metrics") as r:
            return pid, await r.text()


async def grpc_lookup(target: str, person: dict) -> pb.VerifyIdentityReply:
    # A channel of its own (no shared subchannel): a new connection, so any worker may take it.
    async with grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        return await querynode_pb2_grpc.QueryNodeStub(channel).VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=person["id_number"], name=person["name"]), timeout=10)


async def lookups_until_both_answered(http_url: str, persons: list[dict], pids: list[int]) -> Counter:
    """New connections until every worker answered at least two lookups; per pid, how many."""
    answered: Counter = Counter()
    for n in range(400):
        answered[await pid_then_lookup(http_url, persons[n % len(persons)])] += 1
        if all(answered[pid] >= 2 for pid in pids):
            return answered
    raise AssertionError(f"the kernel never gave a connection to every worker: {answered}")


async def audit_verify(config: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "audit", "verify", "--config", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone(pid: int) -> bool:
    """Not running (an unreaped zombie of a killed test child counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def loaded_grpc(pid: int) -> bool:
    """Whether the process has the gRPC core library mapped (it created or imported gRPC)."""
    return "cygrpc" in Path(f"/proc/{pid}/maps").read_text()


def earlier_run_counts(folder: Path) -> None:
    """Leave call counts of an 'earlier run' in a metrics folder, as a crashed node would."""
    script = textwrap.dedent("""
        from querynode.observability.calls import observe_call
        for _ in range(5):
            with observe_call("http", "VerifyIdentity", "r"):
                pass
    """)
    subprocess.run([sys.executable, "-c", script], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
                   cwd=ROOT, check=True, timeout=60)
    assert list(folder.glob("counter_*.db"))


# ------------------------------------------------------------------- two workers


async def test_two_workers_answer_on_one_port_pair_and_metrics_sum_over_them(
        tmp_path, identity_mock, dept_secret, people):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    earlier_run_counts(metrics_dir)  # emptied at start: never added to this run's totals
    config = node_config(tmp_path / "node", identity_mock.url, dept_secret)
    served = await serve(config, "--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    persons = matching(people)
    try:
        assert len(set(served.worker_pids)) == 2
        # The parent never loaded gRPC (nothing of it is forked); the workers did.
        assert not loaded_grpc(served.proc.pid)
        assert all(loaded_grpc(pid) for pid in served.worker_pids)

        answered = await lookups_until_both_answered(served.http_url, persons, served.worker_pids)
        assert set(answered) == set(served.worker_pids)
        http_calls = sum(answered.values())
        grpc_calls = 6
        for n in range(grpc_calls):
            reply = await grpc_lookup(served.grpc_target, persons[n % len(persons)])
            assert reply.verdict == pb.IDENTITY_VERDICT_MATCH

        scraped_from = set()
        for _ in range(200):
            pid, text = await pid_then_metrics(served.http_url)
            scraped_from.add(pid)
            # Whichever worker is asked, the totals are those of every worker.
            assert value(text, "querynode_calls_total", operation="VerifyIdentity", door="http",
                         code="OK") == http_calls
            assert value(text, "querynode_calls_total", operation="VerifyIdentity", door="grpc",
                         code="OK") == grpc_calls
            assert value(text, "querynode_call_duration_seconds_count", operation="VerifyIdentity",
                         door="http") == http_calls
            assert value(text, "querynode_audit_store_writable") == 1  # livemin over the workers
            assert value(text, "querynode_calls_in_flight", door="http") == 0
            if scraped_from == set(served.worker_pids):
                break
        assert scraped_from == set(served.worker_pids)
    finally:
        code = await served.stop()
    assert code == 0, served.stderr.read_text()
    assert all(gone(pid) for pid in served.worker_pids)
    assert "all 2 workers stopped" in served.stderr.read_text()
    # Both workers appended to one SQLite file: one chain, every call in it.
    verified, out = await audit_verify(config)
    assert verified == 0, out
    assert f"OK: {http_calls + grpc_calls} records" in out


async def test_a_killed_worker_is_restarted_and_its_counts_kept(tmp_path, identity_mock, dept_secret, people):
    config = node_config(tmp_path / "node", identity_mock.url, dept_secret)
    served = await serve(config, "--workers", "2")
    persons = matching(people)
    try:
        before = await lookups_until_both_answered(served.http_url, persons, served.worker_pids)
        victim = served.worker_pids[0]
        os.kill(victim, signal.SIGKILL)
        replacement = await served.next_ready_pid()
        assert replacement not in served.worker_pids
        log = served.stderr.read_text()
        assert f"pid {victim}) ended unexpectedly" in log and "restarting in" in log
        after = await lookups_until_both_answered(served.http_url, persons, [served.worker_pids[1], replacement])
        assert victim not in after
        _, text = await pid_then_metrics(served.http_url)
        # The dead worker's counts stay in the totals; its live gauges left them.
        assert value(text, "querynode_calls_total", operation="VerifyIdentity", door="http",
                     code="OK") == sum(before.values()) + sum(after.values())
        assert value(text, "querynode_audit_store_writable") == 1
    finally:
        code = await served.stop()
    assert code == 0, served.stderr.read_text()
    assert gone(replacement) and gone(served.worker_pids[1])
    verified, out = await audit_verify(config)
    assert verified == 0, out


async def test_a_worker_that_cannot_start_stops_the_command(tmp_path, identity_mock, dept_secret):
    # A department over plain HTTP without allow_plain_http: every worker refuses to start.
    config = node_config(tmp_path / "node", identity_mock.url, dept_secret)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["departments"]["identity"]["allow_plain_http"] = False
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "serve", "--config", str(config), "--workers", "2", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    assert proc.returncode == 1
    assert b"failed at start-up" in err and b"is not encrypted" in err


@pytest.mark.parametrize("port", ["grpc", "http"])
def test_several_workers_need_fixed_ports(tmp_path, dept_secret, port):
    config = node_config(tmp_path, "http://127.0.0.1:9", dept_secret)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings[port]["port"] = 0
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "querynode", "serve", "--config", str(config), "--workers", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert f"needs fixed ports: {port}.port is 0" in done.stderr


def test_memory_cache_with_several_workers_is_warned_about(tmp_path, dept_secret, caplog, monkeypatch):
    from querynode.config import load_settings
    from querynode.workers import check_settings

    config = node_config(tmp_path, "http://127.0.0.1:9", dept_secret, cache={"backend": "memory"})
    monkeypatch.setenv("QUERYNODE_CONFIG", str(config))
    settings = load_settings()
    with caplog.at_level(logging.WARNING, logger="querynode.workers"):
        check_settings(settings, 1)
        assert caplog.records == []
        check_settings(settings, 2)
    assert [r.getMessage() for r in caplog.records] == [(
        "cache.backend is memory: each of the 2 workers keeps its own cache; "
        "use cache.backend: redis to share answers between them")]


# ------------------------------------------------------------------- drain


async def test_sigterm_drains_before_stopping(tmp_path, identity_mock, dept_secret, people):
    """SIGTERM: /readyz 503 and gRPC health NOT_SERVING while lookups are still answered; the
    drain lasts drain_seconds (long here) unless a second signal ends it."""
    config = node_config(tmp_path / "node", identity_mock.url, dept_secret, drain_seconds=600)
    served = await serve(config)
    person = matching(people)[0]
    async with grpc.aio.insecure_channel(served.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="querynode.v1.QueryNode")
        assert (await health.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(request)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

        served.proc.send_signal(signal.SIGTERM)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (await health.Check(health_pb2.HealthCheckRequest(service=""))).status == \
            health_pb2.HealthCheckResponse.NOT_SERVING
        async with aiohttp.ClientSession() as s, s.get(f"{served.http_url}/readyz") as r:
            assert r.status == 503 and (await r.json())["status"] == "draining"
        # Still answering while load balancers move away.
        reply = await querynode_pb2_grpc.QueryNodeStub(channel).VerifyIdentity(pb.VerifyIdentityRequest(
            context=ctx(), id_number=person["id_number"], name=person["name"]), timeout=10)
        assert reply.verdict == pb.IDENTITY_VERDICT_MATCH
        async with aiohttp.ClientSession() as s, \
                s.post(f"{served.http_url}/api/v1/identity/verify", json=person_body(person)) as r:
            assert r.status == 200
        assert served.proc.returncode is None
    code = await served.stop(signal.SIGTERM)  # the second signal ends the drain
    assert code == 0, served.stderr.read_text()
    assert "draining for 600.0 s" in served.stderr.read_text()


async def test_workers_drain_on_the_parents_sigterm(tmp_path, identity_mock, dept_secret):
    config = node_config(tmp_path / "node", identity_mock.url, dept_secret, drain_seconds=600)
    served = await serve(config, "--workers", "2")
    try:
        served.proc.send_signal(signal.SIGTERM)
        draining = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(60):  # a bound for a loaded machine, not a speed requirement
                while draining != set(served.worker_pids):
                    # One request per connection: the kernel picks the worker, the answer names it.
                    async with aiohttp.ClientSession() as s, s.get(f"{served.http_url}/readyz") as r:
                        if r.status == 503:
                            draining.add((await r.json())["pid"])
        assert draining == set(served.worker_pids)
        assert served.proc.returncode is None and all(alive(pid) for pid in served.worker_pids)
    finally:
        code = await served.stop(signal.SIGINT)  # forwarded as SIGTERM: ends the drain
    assert code == 0, served.stderr.read_text()
    assert all(gone(pid) for pid in served.worker_pids)


# ------------------------------------------------------------------- one SQLite chain, two writers


async def test_two_sqlite_writers_on_one_file_keep_one_chain(tmp_path):
    """Each store reads the chain head inside its write transaction: appends from two
    connections (two workers' stores) never link to the same head."""
    a, b = sqlite_audit(tmp_path / "audit.sqlite"), sqlite_audit(tmp_path / "audit.sqlite")
    await a.open()
    await b.open()
    try:
        for n in range(4):
            await (a if n % 2 else b).append(record(n))
        await asyncio.gather(*((a if n % 2 else b).append(record(n)) for n in range(4, 60)))
        assert await a.verify_chain() is None
        count, _ = await b.head()
        assert count == 60
    finally:
        await a.close()
        await b.close()


def test_every_gauge_says_how_workers_combine():
    """A gauge left in the default mode ("all") would show one series per worker pid, dead
    ones included, instead of one value for the node."""
    from prometheus_client import Gauge

    from querynode.observability import metrics

    gauges = [m for m in vars(metrics).values() if isinstance(m, Gauge)]
    assert len(gauges) >= 5
    assert {g._name: g._multiprocess_mode for g in gauges if g._multiprocess_mode == "all"} == {}
