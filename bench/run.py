"""`make bench`: the node against the physical floor of this machine, as ratios from one run.

Starts the mock departments and the node (full pipeline: validation, audit to SQLite with
fsync, cache), plus two baselines (a raw grpc.aio echo, a plain aiohttp JSON handler), drives
them with h2load (gRPC over h2) and wrk (HTTP/1.1) from separate processes, and writes
bench/results/<date>.json and .md.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from querynode.v1 import querynode_pb2 as pb  # noqa: E402
from querynode.v1 import querynode_pb2_grpc  # noqa: E402

PY = sys.executable
BASE = 19000  # mocks on BASE + (each department's default port - 18000): 19001, 19002, ...


def department_ports() -> dict[str, int]:
    """Each registered department's mock port in the benchmark (python -m mocks --base-port BASE)."""
    from querynode.core.operations import registry

    return {d.name: BASE + d.default_port - 18000 for d in registry().departments.values()}
NODE_GRPC, NODE_HTTP, ECHO_GRPC, ECHO_HTTP = 19051, 19080, 19052, 19081
ECHO_GRPC_AUDITED, ECHO_HTTP_AUDITED = 19055, 19084  # the baselines plus one durable audit record per call
STAGE_GRPC, STAGE_HTTP = 19053, 19082  # the in-process node of the stage budget
STAGE_CALLS = int(os.environ.get("BENCH_STAGE_CALLS", "500"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
N_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20000"))
# The load generators (h2load, wrk) run pinned to this CPU (taskset), so they never compete
# with themselves across cores; the node and the mocks are not pinned. "" leaves them unpinned.
LOADGEN_CPU = os.environ.get("BENCH_LOADGEN_CPU", str((os.cpu_count() or 1) - 1))
WORKER_ROUNDS = int(os.environ.get("BENCH_WORKER_ROUNDS", "3"))
POSTGRES_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def start(cmd: list[str], env: dict | None = None, marker: str = "ready") -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = []
    for line in proc.stdout:
        if marker in line:
            # Keep reading what the child prints (the node logs every call) so it never blocks on a full pipe.
            threading.Thread(target=collections.deque, args=(proc.stdout, 0), daemon=True).start()
            return proc
        seen.append(line)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"{cmd[:3]} did not start:\n" + "".join(seen[-15:]))


@contextlib.contextmanager
def profile(pid: int, name: str):
    """With BENCH_PROFILE=1: py-spy samples the node while the block runs (collapsed stacks in
    bench/results/profile-<name>.txt; each line a stack and its sample count)."""
    if not os.environ.get("BENCH_PROFILE"):
        yield
        return
    out = ROOT / "bench" / "results" / f"profile-{name}.txt"
    spy = subprocess.Popen([str(Path(PY).parent / "py-spy"), "record", "-p", str(pid), "-r", "200", "--format", "raw",
                            "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (the workers of `serve --workers N`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / CLK_TCK
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += cpu_seconds(int(child))
    return total


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def pinned(cmd: list[str]) -> list[str]:
    """The load generator's command, pinned to LOADGEN_CPU when taskset is there."""
    return ["taskset", "-c", LOADGEN_CPU, *cmd] if LOADGEN_CPU and shutil.which("taskset") else cmd


@contextlib.contextmanager
def loadgen_pinned():
    """The bench's own client (added latency, CheckCase) on LOADGEN_CPU too, for the block:
    the calling thread and the threads it starts meanwhile (Linux affinity is per thread)."""
    if not LOADGEN_CPU:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(LOADGEN_CPU)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def h2load(port: int, path: str, body: bytes, server_pid: int, auth: str, *, clients: int = 8,
           streams: int = 8, requests: int = N_REQUESTS) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data, log = Path(tmp, "req.bin"), Path(tmp, "log.tsv")
        data.write_bytes(body)
        cpu0, gen0, t0 = cpu_seconds(server_pid), children_cpu(), time.perf_counter()
        out = subprocess.run(pinned([
            "h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams), "-t", "1", "-d", str(data),
             "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", auth, f"--log-file={log}",
             f"https://127.0.0.1:{port}{path}"]), capture_output=True, text=True, check=True).stdout
        cpu = cpu_seconds(server_pid) - cpu0
        generator = (children_cpu() - gen0) / (time.perf_counter() - t0)
        rows = [line.split("\t") for line in log.read_text().splitlines()]
    durations = [int(r[2]) / 1000 for r in rows]
    ok = re.search(r"requests: .*? (\d+) succeeded", out)
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    return {"rps": rps, "p50_ms": percentile(durations, 0.5), "p99_ms": percentile(durations, 0.99),
            "succeeded": int(ok.group(1)) if ok else None, "cpu_us_per_call": cpu / len(rows) * 1e6,
            "load_generator_cores": generator}


def wrk(url: str, body: str, server_pid: int, auth: str, seconds: int = 8) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "post.lua")
        script.write_text(f'wrk.method = "POST"\nwrk.body = [==[{body}]==]\n'
                          'wrk.headers["Content-Type"] = "application/json"\n'
                          f'wrk.headers["Authorization"] = "{auth.split(": ", 1)[1]}"\n')
        cpu0 = cpu_seconds(server_pid)
        out = subprocess.run(pinned(["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", str(script), url]),
                             capture_output=True, text=True, check=True).stdout
        cpu = cpu_seconds(server_pid) - cpu0

    def latency(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} of {total} answers were not 2xx; the figures would be wrong")
    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"), "requests": total,
            "cpu_us_per_call": cpu / total * 1e6}


def grpc_frame(message) -> bytes:
    payload = message.SerializeToString()
    return struct.pack(">?I", False, len(payload)) + payload


async def added_latency(person: dict, secret: str, ca_file: Path, token: str, calls: int = 400) -> dict:
    """Unloaded: a direct signed call to the mock MPS vs the same lookup through the node
    with the cache bypassed (fresh), from one sequential client."""
    from connectors.base import CallInfo, ConnectorConfig
    from connectors.identity import IdentityConnector
    from querynode.domain.model import IdentityQuery

    connector = IdentityConnector(ConnectorConfig(base_url=f"http://127.0.0.1:{department_ports()['identity']}", secret=secret))
    query = IdentityQuery(person["id_number"], person["name"])
    direct, direct_cpu = [], 0.0
    for i in range(calls + 50):
        t0, cpu0 = time.perf_counter(), time.thread_time()
        await connector.lookup(query, CallInfo(f"bench-{i}", "BENCH-0001", "bench", 2.0))
        if i >= 50:
            direct.append((time.perf_counter() - t0) * 1000)
            direct_cpu += time.thread_time() - cpu0
    await connector.close()
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
    async with grpc.aio.secure_channel(f"127.0.0.1:{NODE_GRPC}", credentials) as channel:
        stub = querynode_pb2_grpc.QueryNodeStub(channel)
        request = pb.VerifyIdentityRequest(context=pb.RequestContext(
            case_number="BENCH-0001", operator_id="bench", purpose="benchmark", fresh=True),
            id_number=person["id_number"], name=person["name"])
        through = []
        for i in range(calls + 50):
            t0 = time.perf_counter()
            reply = await stub.VerifyIdentity(request, metadata=(("authorization", f"Bearer {token}"),))
            assert reply.verdict == pb.IDENTITY_VERDICT_MATCH and not reply.provenance.from_cache
            if i >= 50:
                through.append((time.perf_counter() - t0) * 1000)
    return {"direct_p50_ms": statistics.median(direct), "direct_p99_ms": percentile(direct, 0.99),
            # a department call's own CPU in the caller (signing, aiohttp, the reply's parsing)
            "direct_cpu_us": direct_cpu / calls * 1e6,
            "node_p50_ms": statistics.median(through), "node_p99_ms": percentile(through, 0.99),
            "added_p50_ms": statistics.median(through) - statistics.median(direct),
            "added_p99_ms": percentile(through, 0.99) - percentile(direct, 0.99)}


async def echo_round_trip(body: bytes, ca_file: Path, calls: int = 400) -> dict:
    """Unloaded: the TLS echo's round trip from one sequential client (the same request bytes
    as the node's lookup), the part of an uncached lookup's added latency that any gRPC
    server in Python costs here before doing anything."""
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
    payload = body[5:]  # without the gRPC frame header: the channel adds it
    async with grpc.aio.secure_channel(f"127.0.0.1:{ECHO_GRPC}", credentials) as channel:
        echo = channel.unary_unary("/querynode.v1.QueryNode/VerifyIdentity")
        times = []
        for i in range(calls + 50):
            t0 = time.perf_counter()
            assert await echo(payload) == payload
            if i >= 50:
                times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99)}


async def audit_throughput(records: int = 5000, concurrency: int = 256) -> dict:
    """Durable audit appends (committed, and on SQLite fsynced, before each returns) from many
    concurrent calls, on SQLite and on the local PostgreSQL (a throw-away table)."""
    from querynode.security.audit_store import AuditRecord, ChainKey, PostgresAuditStore, SqliteAuditStore

    async def drive(store) -> dict:
        await store.open()
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                await store.append(AuditRecord(
                    audit_id=f"{i:032x}", at=datetime.now(UTC).isoformat(), request_id=f"{i:032x}", caller="bench",
                    operator_id="bench", case_number="BENCH", purpose="benchmark", operation="VerifyIdentity",
                    department="identity", subject_index="0" * 64, outcome="ANSWERED", latency_ms=1.0))

        try:
            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(records)))
            elapsed = time.perf_counter() - t0
            # The intent record (core/hub.py) is one more durable append, awaited before a
            # department is asked: its cost per uncached lookup is one append's latency (alone,
            # then under load), and it halves the lookups per second the store can carry.
            alone = []
            for i in range(records, records + 200):
                started = time.perf_counter()
                await one(i)
                alone.append((time.perf_counter() - started) * 1000)
            count, _ = await store.head()
            return {"records_per_s": records / elapsed, "records": count,
                    "intent_ms_p50": statistics.median(alone), "intent_ms_p99": percentile(alone, 0.99),
                    "uncached_lookups_per_s": records / elapsed / 2,
                    "chain_intact": await store.verify_chain() is None}
        finally:
            await store.close()

    key = ChainKey(secrets.token_bytes(32))  # the keyed chain MAC is part of what is measured
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await drive(SqliteAuditStore(Path(tmp, "audit.sqlite"), key))
    table = f"bench_audit_{secrets.token_hex(4)}"
    try:
        postgres = await drive(PostgresAuditStore(POSTGRES_DSN, table, key=key))
    finally:
        await _drop_table(table)
    return {"sqlite": sqlite, "postgres": postgres}


async def _drop_table(table: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        await conn.execute(f"DROP FUNCTION IF EXISTS {table}_append_only() CASCADE")
    finally:
        await conn.close()


async def case_checks(world, ca_file: Path, token: str, node_pid: int, *, concurrent: int, per_client: int = 5,
                      delay_ms: int = 50) -> dict:
    """`CheckCase` under `concurrent` cases at once, every department answering in `delay_ms`
    (mock fault plan), each case asking the departments afresh (no cache). A mortgage by a
    person to a licensed bank consults identity, marriage, credit code and financial licence:
    the widest plan any registration type has, in parallel."""
    import aiohttp

    bank, persons = case_parties(world)
    async with aiohttp.ClientSession() as http:
        for port in department_ports().values():
            async with http.post(f"http://127.0.0.1:{port}/_admin/faults", json={"latency": str(delay_ms)}) as r:
                r.raise_for_status()
        try:
            credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
            async with grpc.aio.secure_channel(f"127.0.0.1:{NODE_GRPC}", credentials) as channel:
                stub = querynode_pb2_grpc.QueryNodeStub(channel)
                metadata = (("authorization", f"Bearer {token}"),)
                latencies: list[float] = []
                departments: set[int] = set()

                async def client(c: int) -> None:
                    for i in range(per_client):
                        request = mortgage_case(persons[(c * per_client + i) % len(persons)], bank, f"{c:03d}-{i}")
                        t0 = time.perf_counter()
                        reply = await stub.CheckCase(request, metadata=metadata, timeout=10)
                        latencies.append((time.perf_counter() - t0) * 1000)
                        if any(chk.status == pb.CHECK_STATUS_UNAVAILABLE for chk in reply.checks):
                            raise SystemExit("a department was unavailable during the case benchmark")
                        departments.add(len({chk.kind for chk in reply.checks}))

                await client(-1)  # one case alone first: connection and TLS set up
                latencies.clear()
                cpu0, t0 = cpu_seconds(node_pid), time.perf_counter()
                await asyncio.gather(*(client(c) for c in range(concurrent)))
                cpu, elapsed = cpu_seconds(node_pid) - cpu0, time.perf_counter() - t0
        finally:
            for port in department_ports().values():
                async with http.post(f"http://127.0.0.1:{port}/_admin/faults", json={}) as r:
                    r.raise_for_status()
    return {"cases": len(latencies), "concurrent": concurrent, "department_delay_ms": delay_ms,
            "cases_per_s": len(latencies) / elapsed, "node_cpu_ms_per_case": cpu / len(latencies) * 1000,
            "check_kinds_per_case": sorted(departments), "p50_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies),
            "p99_over_slowest_ms": percentile(latencies, 0.99) - delay_ms}


def case_parties(world) -> tuple:
    """A valid bank licence and the living residents: the parties of the benchmark's cases."""
    bank = next(lic for lic in world.licenses if lic.valid)
    return bank, [p for p in world.persons if p.kind == "resident" and p.id_number not in world.deaths]


def mortgage_case(person, bank, tag: str) -> pb.CheckCaseRequest:
    """A mortgage by `person` to `bank`: identity, marriage, credit code and financial licence."""
    return pb.CheckCaseRequest(
        context=pb.RequestContext(case_number=f"BENCH-{tag}", operator_id="clerk-bench", purpose="抵押登记",
                                  fresh=True),
        registration_type="mortgage", parties=[
            pb.CaseParty(role="mortgagor", name=person.name, id_number=person.id_number),
            pb.CaseParty(role="mortgagee", organization_name=bank.organization.name,
                         credit_code=bank.organization.credit_code, license_code=bank.license_code)])


async def stage_budget(stack: "Stack", person: dict, world, calls: int = STAGE_CALLS) -> dict:
    """Where one call's time goes: the production node runs in this process with the stage
    timers on (observability/stages.py); a blocking gRPC client in another thread makes one
    call at a time, so the loop thread's CPU (`thread_time`) is the node's alone. Per call
    the stages are summed; the table gives each stage's median over `calls` calls, for a
    cache hit, a cache miss (fresh) and `calls // 50` CheckCases."""
    from querynode.cli import run_node
    from querynode.config import load_settings
    from querynode.observability import stages
    from querynode.observability.logs import configure as configure_logging

    os.environ.update({**stack.env, "QUERYNODE_GRPC__PORT": str(STAGE_GRPC), "QUERYNODE_HTTP__PORT": str(STAGE_HTTP)})
    devnull = open(os.devnull, "w")  # the log line is built and written, to nowhere
    configure_logging(stream=devnull)
    with contextlib.redirect_stdout(devnull):
        node = asyncio.create_task(run_node(load_settings(None)))
        await asyncio.sleep(0)
    channel = grpc.secure_channel(f"127.0.0.1:{STAGE_GRPC}", grpc.ssl_channel_credentials(
        root_certificates=Path(stack.pki.ca_cert).read_bytes()))
    stub = querynode_pb2_grpc.QueryNodeStub(channel)
    metadata = (("authorization", f"Bearer {stack.token}"),)
    bank, persons = case_parties(world)

    def lookup(fresh: bool):
        return lambda: stub.VerifyIdentity(pb.VerifyIdentityRequest(
            context=pb.RequestContext(case_number="BENCH-0001", operator_id="bench", purpose="benchmark", fresh=fresh),
            id_number=person["id_number"], name=person["name"]), metadata=metadata, timeout=10)

    async def measure(call, count: int) -> dict:
        per_stage: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        wall, loop_cpu = [], []
        for i in range(count + 20):  # the first 20 warm up
            with stages.recording() as records:
                cpu0, t0 = time.thread_time(), time.perf_counter()
                await asyncio.to_thread(call(i))
                cpu, elapsed = (time.thread_time() - cpu0) * 1e6, (time.perf_counter() - t0) * 1e6
            if i >= 20:
                wall.append(elapsed)
                loop_cpu.append(cpu)
                for name, value in stages.per_call(records).items():
                    per_stage[name].append(value)
        table = {name: {"cpu_us": statistics.median(v[0] for v in values),
                        "wall_us": statistics.median(v[1] for v in values), "calls": len(values)}
                 for name, values in sorted(per_stage.items(), key=lambda kv: _stage_order(kv[0]))}
        return {"stages": table, "calls": count, "client_wall_us": statistics.median(wall),
                "loop_cpu_us": statistics.median(loop_cpu)}

    try:
        for _ in range(100):  # the node is up when a call gets through
            try:
                await asyncio.to_thread(lookup(False))
                break
            except grpc.RpcError:
                await asyncio.sleep(0.1)
        out = {}
        for kind, call, count in (
                ("hit", lambda i: lookup(False), calls), ("miss", lambda i: lookup(True), calls),
                ("case", lambda i: lambda: stub.CheckCase(mortgage_case(persons[i % len(persons)], bank, f"S{i}"),
                                                          metadata=metadata, timeout=10), max(10, calls // 50))):
            with profile(os.getpid(), f"stages-{kind}"):
                out[kind] = await measure(call, count)
            if os.environ.get("BENCH_PROFILE"):
                out[kind]["profile"] = profile_by_stage(ROOT / "bench" / "results" / f"profile-stages-{kind}.txt")
    finally:
        channel.close()
        node.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await node
        devnull.close()
    return out


# Where a sampled stack is, by the innermost frame from a file named here (py-spy's frames
# read "function (path:line)"); the stage names are those of observability/stages.py.
PROFILE_STAGES = (
    ("core/validate.py", "validation"), ("domain/", "validation"), ("security/blind_index.py", "blind_index"),
    ("security/authorization.py", "authorization"), ("security/authentication.py", "authentication"),
    ("security/abuse.py", "abuse"), ("core/cache.py", "cache"), ("security/field_crypto.py", "cache"),
    ("aiocache/", "cache"), ("core/audit.py", "audit"), ("security/audit_store.py", "audit"),
    ("aiosqlite/", "audit"), ("connectors/", "connector"), ("aiohttp/client", "connector"),
    ("api/grpc/convert.py", "response"), ("security/masking.py", "response"),
    ("observability/metrics.py", "metrics"), ("prometheus_client/", "metrics"),
    ("observability/logs.py", "logging"), ("logging/", "logging"), ("observability/stages.py", "stage timers"),
    ("api/grpc/", "door"), ("api/http/", "door"), ("grpc/_", "grpc transport"), ("grpc/aio/", "grpc transport"),
    ("google/protobuf/", "decode / encode"), ("core/casecheck.py", "case"), ("core/findings.py", "case"),
    ("security/records.py", "case"), ("asyncio/", "event loop"),
)


def profile_by_stage(raw: Path, top: int = 3) -> dict:
    """Summarise py-spy's collapsed stacks (`frame;frame;... count`) per stage: samples and
    the innermost frames that took the most of them. Only the event loop's thread (the main
    one, whose stacks start in this file): the client thread and aiosqlite's are not the node's
    loop (the audit writer's share shows as the wall time of the audit stages)."""
    samples: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    if not raw.exists():
        return {"error": f"py-spy wrote no {raw.name} (is py-spy installed and allowed to attach?)"}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].startswith("<module> (run.py"):
            continue
        stage = next((name for frame in reversed(frames) for part, name in PROFILE_STAGES if part in frame), "other")
        samples[stage][frames[-1]] += int(count)
    total = sum(sum(c.values()) for c in samples.values()) or 1
    return {stage: {"share": sum(c.values()) / total, "top_frames": [f"{f} ({n})" for f, n in c.most_common(top)]}
            for stage, c in sorted(samples.items(), key=lambda kv: -sum(kv[1].values()))}


def _stage_order(name: str) -> int:
    from querynode.observability.stages import STAGES

    return STAGES.index(name) if name in STAGES else len(STAGES)


def stage_table(budget: dict) -> list[str]:
    """Markdown: one row per stage, CPU and wall µs (median per call) for hit, miss and case."""
    kinds = ("hit", "miss", "case")
    names = sorted({n for k in kinds for n in budget[k]["stages"]}, key=_stage_order)
    lines = ["| stage | hit CPU µs | hit wall µs | miss CPU µs | miss wall µs | CheckCase CPU µs | CheckCase wall µs |",
             "|---|---|---|---|---|---|---|"]

    def cell(kind: str, name: str) -> str:
        row = budget[kind]["stages"].get(name)
        return f"{row['cpu_us']:.0f} | {row['wall_us']:.0f}" if row else "– | –"

    for name in names:
        lines.append(f"| {name} | " + " | ".join(cell(k, name) for k in kinds) + " |")
    lines.append("| sum of stage medians | " + " | ".join(
        f"{sum(r['cpu_us'] for r in budget[k]['stages'].values()):.0f} | "
        f"{sum(r['wall_us'] for r in budget[k]['stages'].values()):.0f}" for k in kinds) + " |")
    lines.append("| whole call: node loop thread CPU / client wall | " + " | ".join(
        f"{budget[k]['loop_cpu_us']:.0f} | {budget[k]['client_wall_us']:.0f}" for k in kinds) + " |")
    return lines


@dataclasses.dataclass
class Stack:
    """What a benchmark run shares: a work folder, department secret, demo PKI, a caller token
    and the environment that runs the node with its production pipeline."""

    work: Path
    secret: str
    secret_file: Path
    pki: object
    token: str
    env: dict

    @property
    def auth(self) -> str:
        return f"authorization: Bearer {self.token}"

    def start_mocks(self, *extra: str) -> subprocess.Popen:
        return start([PY, "-m", "mocks", "--secret-file", str(self.secret_file), "--base-port", str(BASE), *extra],
                     marker="mocks ready")

    def start_node(self, *extra: str, env: dict | None = None) -> subprocess.Popen:
        return start([PY, "-m", "querynode", "serve", *extra], env={**self.env, **(env or {})}, marker="querynode HTTP")


def prepare_stack() -> Stack:
    """The production pipeline: TLS and bearer tokens on both doors, durable audit, encrypted cache."""
    from querynode.security.authentication import issue_token
    from querynode.security.tls import ensure_demo_pki

    work = Path(tempfile.mkdtemp(prefix="querynode-bench-"))
    secret_file = work / "departments.secret"
    secret = secrets.token_hex(32)
    secret_file.write_text(secret)
    pki = ensure_demo_pki(work / "pki", ("bench",))
    tokens = work / "tokens.json"
    token = issue_token(tokens, "bench")
    env = {**os.environ, "QUERYNODE_DATA_DIR": str(work), "QUERYNODE_NODE_KEY": secrets.token_hex(32),
           "QUERYNODE_GRPC__PORT": str(NODE_GRPC), "QUERYNODE_HTTP__PORT": str(NODE_HTTP),
           "QUERYNODE_SECURITY__GRPC_AUTH": "token", "QUERYNODE_SECURITY__HTTP_AUTH": "token",
           "QUERYNODE_SECURITY__TLS_CERT_FILE": str(pki.server_cert),
           "QUERYNODE_SECURITY__TLS_KEY_FILE": str(pki.server_key),
           "QUERYNODE_SECURITY__TOKENS_FILE": str(tokens)}
    for name, port in department_ports().items():
        dept = name.upper()
        env[f"QUERYNODE_DEPARTMENTS__{dept}__URL"] = f"http://127.0.0.1:{port}"
        env[f"QUERYNODE_DEPARTMENTS__{dept}__SECRET_FILE"] = str(secret_file)
        env[f"QUERYNODE_DEPARTMENTS__{dept}__ALLOW_PLAIN_HTTP"] = "true"  # mocks on loopback
        # A department's quota is a deployment setting; here it must not be what the case benchmark measures.
        env[f"QUERYNODE_DEPARTMENTS__{dept}__BULKHEAD__MAX_CONCURRENT"] = "256"
    return Stack(work, secret, secret_file, pki, token, env)


def workers_scaling(stack: Stack, path: str, body: bytes) -> dict:
    """Cache-hit VerifyIdentity through `serve --workers 1` and `--workers 2`, both on the
    shared Redis cache (what several workers need), on the same ports, in turns (1 2 2 1 ...)
    for WORKER_ROUNDS rounds: the figures are medians with their spread. The load generator
    is pinned to LOADGEN_CPU; the workers are not (on 2 CPUs they share a core with it)."""
    runs: dict[str, list[dict]] = {"1": [], "2": []}
    for n in range(WORKER_ROUNDS):
        for count in ((1, 2) if n % 2 == 0 else (2, 1)):
            node = stack.start_node("--workers", str(count), env={"QUERYNODE_CACHE__BACKEND": "redis"})
            try:
                time.sleep(3)  # every worker listening before the load starts
                h2load(NODE_GRPC, path, body, node.pid, stack.auth, requests=1000)  # warm up
                runs[str(count)].append(h2load(NODE_GRPC, path, body, node.pid, stack.auth))
            finally:
                node.terminate()
                node.wait(timeout=30)
    out: dict = {}
    for count, rows in runs.items():
        rps = [r["rps"] for r in rows]
        out[count] = {"rps": statistics.median(rps), "rps_min": min(rps), "rps_max": max(rps),
                      "cpu_us_per_call": statistics.median(r["cpu_us_per_call"] for r in rows),
                      "p99_ms": statistics.median(r["p99_ms"] for r in rows),
                      "node_cores": statistics.median(r["rps"] * r["cpu_us_per_call"] / 1e6 for r in rows),
                      "load_generator_cores": statistics.median(r["load_generator_cores"] for r in rows),
                      "runs": rows}
    out["speed_up"] = out["2"]["rps"] / out["1"]["rps"]
    out["rounds"], out["load_generator_cpu"] = WORKER_ROUNDS, LOADGEN_CPU
    return out


def require_tools(*tools: str) -> None:
    for tool in tools:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install nghttp2-client wrk")


def main() -> None:
    require_tools("h2load", "wrk")
    samples = json.loads((ROOT / "mocks" / "samples.json").read_text(encoding="utf-8"))
    person = samples["identity"]["match"][0]
    stack = prepare_stack()
    work, secret, pki, token, auth = stack.work, stack.secret, stack.pki, stack.token, stack.auth
    procs = []
    from mocks.world import build as build_world

    world = build_world()
    try:
        procs.append(stack.start_mocks())
        stage_budget_results = asyncio.run(stage_budget(stack, person, world))
        if os.environ.get("BENCH_ONLY") == "stages":
            write_stage_report({"date": datetime.now(UTC).isoformat(), "machine": machine(),
                                "stage_budget": stage_budget_results})
            return
        node = stack.start_node()
        procs.append(node)
        echo_grpc = start([PY, "bench/echo_servers.py", "grpc", str(ECHO_GRPC), str(pki.server_cert), str(pki.server_key)])
        echo_http = start([PY, "bench/echo_servers.py", "http", str(ECHO_HTTP)])
        # The floor the audit rule sets: the same baselines, each call awaiting one durable
        # record through the node's own audit trail and store (an audit file of their own).
        floor_env = {**stack.env, "QUERYNODE_DATA_DIR": str(work / "floor")}
        echo_grpc_audited = start([PY, "bench/echo_servers.py", "grpc", str(ECHO_GRPC_AUDITED), str(pki.server_cert),
                                   str(pki.server_key), "--audited"], env=floor_env)
        echo_http_audited = start([PY, "bench/echo_servers.py", "http", str(ECHO_HTTP_AUDITED), "--audited"],
                                  env=floor_env)
        procs += [echo_grpc, echo_http, echo_grpc_audited, echo_http_audited]

        request = pb.VerifyIdentityRequest(context=pb.RequestContext(
            case_number="BENCH-0001", operator_id="bench", purpose="benchmark"),
            id_number=person["id_number"], name=person["name"])
        body = grpc_frame(request)
        path = "/querynode.v1.QueryNode/VerifyIdentity"
        json_body = json.dumps({"context": {"case_number": "BENCH-0001", "operator_id": "bench", "purpose": "benchmark"},
                                "id_number": person["id_number"], "name": person["name"]}, ensure_ascii=False)
        results: dict = {"date": datetime.now(UTC).isoformat(), "machine": machine(),
                         "requests_per_run": N_REQUESTS, "stage_budget": stage_budget_results}
        with loadgen_pinned():
            results["added_latency"] = asyncio.run(added_latency(person, secret, pki.ca_cert, token))  # warms the cache
            results["echo_round_trip"] = asyncio.run(echo_round_trip(body, pki.ca_cert))
        results["grpc_echo"] = h2load(ECHO_GRPC, path, body, echo_grpc.pid, auth)
        results["grpc_echo_audited"] = h2load(ECHO_GRPC_AUDITED, path, body, echo_grpc_audited.pid, auth)
        with profile(node.pid, "grpc"):
            results["grpc_node_cache_hit"] = h2load(NODE_GRPC, path, body, node.pid, auth)
        results["http_plain"] = wrk(f"http://127.0.0.1:{ECHO_HTTP}/api/v1/identity/verify", json_body, echo_http.pid,
                                    auth)
        results["http_plain_audited"] = wrk(f"http://127.0.0.1:{ECHO_HTTP_AUDITED}/api/v1/identity/verify", json_body,
                                            echo_http_audited.pid, auth)
        results["http_node_cache_hit"] = wrk(f"http://127.0.0.1:{NODE_HTTP}/api/v1/identity/verify", json_body,
                                             node.pid, auth)
        with loadgen_pinned():
            results["case_check"] = {"concurrent_10": asyncio.run(case_checks(world, pki.ca_cert, token, node.pid,
                                                                              concurrent=10))}
            with profile(node.pid, "case"):
                results["case_check"]["concurrent_100"] = asyncio.run(
                    case_checks(world, pki.ca_cert, token, node.pid, concurrent=100))
        results["audit"] = asyncio.run(audit_throughput())
        node.terminate()
        node.wait(timeout=30)
        procs.remove(node)
        results["workers"] = workers_scaling(stack, path, body)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    results["load_average_end"] = os.getloadavg()
    results["ratios"] = {
        "grpc_cache_hit_vs_echo": results["grpc_node_cache_hit"]["rps"] / results["grpc_echo"]["rps"],
        "http_cache_hit_vs_plain": results["http_node_cache_hit"]["rps"] / results["http_plain"]["rps"],
    }
    write_report(results)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average": os.getloadavg()}


STAGE_NOTE = ("Per-stage budget: median per call of each stage's summed CPU µs (node event-loop thread, "
              "`thread_time`) and wall µs, the node in the bench process with stage timers on, one call at a time "
              "from a client thread. CPU of a stage that awaits includes whatever else the loop ran meanwhile; "
              "the audit append thread and grpc's own threads are not in it. CheckCase runs its checks in "
              "parallel, so its wall figures add overlapping time.")


def profile_lines(budget: dict) -> list[str]:
    """With BENCH_PROFILE: py-spy's samples per stage (share of samples, top innermost frames)."""
    lines = []
    for kind in ("hit", "miss", "case"):
        summary = budget[kind].get("profile")
        if not summary:
            continue
        lines += ["", f"py-spy samples by stage, {kind}:", "", "| stage | share | top frames |", "|---|---|---|"]
        if "error" in summary:
            lines.append(f"| – | – | {summary['error']} |")
            continue
        lines += [f"| {stage} | {row['share']:.0%} | {'; '.join(row['top_frames'])} |" for stage, row in summary.items()]
    return lines


def write_stage_report(r: dict) -> None:
    """Only the stage budget (BENCH_ONLY=stages): bench/results/<date>-stages.json and .md."""
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = r["date"][:10]
    (out / f"{stamp}-stages.json").write_text(json.dumps(r, indent=2) + "\n")
    lines = [f"# Stage budget {r['date'][:19]}Z — {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, "
             f"load average {', '.join(f'{x:.1f}' for x in r['machine']['load_average'])}", "", STAGE_NOTE, "",
             *stage_table(r["stage_budget"])]
    lines += profile_lines(r["stage_budget"])
    (out / f"{stamp}-stages.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def write_report(r: dict) -> None:
    """bench/results/<date>-bench.json and .md: the ratios of issue 20 from this one run."""
    stamp = r["date"][:10]
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}-bench.json").write_text(json.dumps(r, indent=2) + "\n")
    a, g, e, h, p = r["added_latency"], r["grpc_node_cache_hit"], r["grpc_echo"], r["http_node_cache_hit"], r["http_plain"]
    c10, c = r["case_check"]["concurrent_10"], r["case_check"]["concurrent_100"]
    w, m = r["workers"], r["machine"]
    lines = [
        f"# Benchmark {r['date'][:19]}Z — {m['cpus']} CPUs, Python {m['python']}, load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'])}, at end "
        f"{', '.join(f'{x:.1f}' for x in r['load_average_end'])}", "",
        f"Load generators (h2load, wrk) pinned to CPU {LOADGEN_CPU or 'none'} with taskset; the node, the mock "
        "departments, Redis and PostgreSQL are not pinned and share the machine with them.", "",
        "| measure | node | baseline | ratio / delta | target (stretch) |", "|---|---|---|---|---|",
        f"| gRPC VerifyIdentity cache hit, req/s | {g['rps']:.0f} | TLS echo {e['rps']:.0f} | "
        f"{r['ratios']['grpc_cache_hit_vs_echo']:.2f}x | >= 0.5x (0.8x) |",
        f"| gRPC p50 / p99 ms | {g['p50_ms']:.2f} / {g['p99_ms']:.2f} | {e['p50_ms']:.2f} / {e['p99_ms']:.2f} | | |",
        f"| gRPC CPU per call, us | {g['cpu_us_per_call']:.0f} | {e['cpu_us_per_call']:.0f} | "
        f"{g['cpu_us_per_call'] / e['cpu_us_per_call']:.1f}x | |",
        f"| JSON API cache hit, req/s | {h['rps']:.0f} | aiohttp {p['rps']:.0f} | "
        f"{r['ratios']['http_cache_hit_vs_plain']:.2f}x | >= 0.35x (0.5x) |",
        f"| JSON p50 / p99 ms | {h['p50_ms']:.2f} / {h['p99_ms']:.2f} | {p['p50_ms']:.2f} / {p['p99_ms']:.2f} | | |",
        f"| JSON CPU per call, us | {h['cpu_us_per_call']:.0f} | {p['cpu_us_per_call']:.0f} | "
        f"{h['cpu_us_per_call'] / p['cpu_us_per_call']:.1f}x | |",
        f"| added latency, cache miss, unloaded, p50 ms | {a['node_p50_ms']:.2f} | direct {a['direct_p50_ms']:.2f} | "
        f"+{a['added_p50_ms']:.2f} | <= +1.5 (+0.5) |",
        f"| added latency, cache miss, unloaded, p99 ms | {a['node_p99_ms']:.2f} | direct {a['direct_p99_ms']:.2f} | "
        f"+{a['added_p99_ms']:.2f} | (+1.0) |",
        f"| CheckCase node CPU per case, 10 concurrent, ms | {c10['node_cpu_ms_per_case']:.2f} | | "
        f"{c10['cases_per_s']:.0f} cases/s | <= 3 |",
        (f"| CheckCase p50 / p99 ms, 10 concurrent cases, every department {c10['department_delay_ms']} ms | "
         f"{c10['p50_ms']:.1f} / {c10['p99_ms']:.1f} | slowest {c10['department_delay_ms']} | "
         f"+{c10['p99_over_slowest_ms']:.1f} at p99 | <= +30 |"),
        (f"| CheckCase p50 / p99 ms, {c['concurrent']} concurrent cases | {c['p50_ms']:.1f} / {c['p99_ms']:.1f} | "
         f"slowest {c['department_delay_ms']} | +{c['p99_over_slowest_ms']:.1f} at p99 | |"),
        f"| CheckCase node CPU per case, {c['concurrent']} concurrent, ms | {c['node_cpu_ms_per_case']:.2f} | | "
        f"{c['cases_per_s']:.0f} cases/s | |",
        (f"| gRPC cache hit, Redis cache, `serve --workers 1` / `--workers 2`, req/s, median of {w['rounds']} "
         f"interleaved runs (min-max) | {w['1']['rps']:.0f} ({w['1']['rps_min']:.0f}-{w['1']['rps_max']:.0f}) / "
         f"{w['2']['rps']:.0f} ({w['2']['rps_min']:.0f}-{w['2']['rps_max']:.0f}) | | {w['speed_up']:.2f}x | |"),
        (f"| the same: node CPU per call us, node cores busy, load generator cores busy | "
         f"{w['1']['cpu_us_per_call']:.0f} / {w['2']['cpu_us_per_call']:.0f}; {w['1']['node_cores']:.2f} / "
         f"{w['2']['node_cores']:.2f}; {w['1']['load_generator_cores']:.2f} / {w['2']['load_generator_cores']:.2f} "
         "| | | |"),
        f"| durable audit (group commit), SQLite records/s | {r['audit']['sqlite']['records_per_s']:.0f} | | | >= 5000 |",
        f"| durable audit (group commit), PostgreSQL records/s | {r['audit']['postgres']['records_per_s']:.0f} | | | >= 5000 |",
        *(f"| intent record before a department is asked, {name}: added ms p50 / p99 per uncached lookup; "
          f"uncached lookups/s the store carries (2 records each) | {r['audit'][name]['intent_ms_p50']:.2f} / "
          f"{r['audit'][name]['intent_ms_p99']:.2f} | | {r['audit'][name]['uncached_lookups_per_s']:.0f}/s | |"
          for name in ("sqlite", "postgres")),
    ]
    ga, ha, rt = r["grpc_echo_audited"], r["http_plain_audited"], r["echo_round_trip"]
    record_ms = r["audit"]["sqlite"]["intent_ms_p50"]
    lines += [
        "", "Floors the rules set, from the same run: the baselines themselves, each call awaiting one durable "
        "record through the node's own audit trail and SQLite store (bench/echo_servers.py --audited) and "
        "doing nothing else; and what an uncached lookup waits for before the node's own work (the TLS echo's "
        "round trip, the intent record and the answer's record, one after the other).", "",
        "| floor | value | baseline | ratio / sum | the target it bounds |", "|---|---|---|---|---|",
        f"| TLS echo + one durable audit record per call, req/s | {ga['rps']:.0f} ({ga['cpu_us_per_call']:.0f} us "
        f"CPU per call) | TLS echo {e['rps']:.0f} | {ga['rps'] / e['rps']:.2f}x | gRPC cache hit >= 0.5x |",
        f"| aiohttp + one durable audit record per call, req/s | {ha['rps']:.0f} ({ha['cpu_us_per_call']:.0f} us "
        f"CPU per call) | aiohttp {p['rps']:.0f} | {ha['rps'] / p['rps']:.2f}x | JSON cache hit >= 0.35x |",
        f"| unloaded uncached lookup: TLS echo round trip p50 + 2 x durable record p50 (SQLite), ms | "
        f"{rt['p50_ms']:.2f} + 2 x {record_ms:.2f} | | {rt['p50_ms'] + 2 * record_ms:.2f} | added latency <= +1.5 |",
        f"| one department call's CPU in the caller (signed GA02 request over aiohttp, reply parsed), direct, us | "
        f"{a['direct_cpu_us']:.0f} | | | CheckCase <= 3 ms (the benchmark's case asks {c10['check_kinds_per_case'][-1]} "
        "kinds of check) |",
    ]
    lines += ["", STAGE_NOTE, "", *stage_table(r["stage_budget"]), *profile_lines(r["stage_budget"])]
    (out / f"{stamp}-bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
