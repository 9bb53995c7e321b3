"""CheckCase node CPU per case with the identity lookups of a case sent as one GA02 call, against the
same node with that batching off (identity option `max_persons_per_call: 1`), in one sitting.

A transfer with four persons (seller, buyer, agent, legal representative: 4 identity, 4 death,
4 cremation and 2 marriage checks), every department answering in 50 ms, each case asked afresh.
The node runs as `querynode serve` with the production pipeline (bench/run.py's stack); the modes
alternate so that drift on a shared machine falls on both. Prints a table and writes
bench/results/case-batching-<date>.json. BENCH_IDENTITY_ONLY=1 wires the node to the identity
department alone (the other checks are answered "no connector" at once), so that the identity
part of a case's CPU stands out.

    .venv/bin/python bench/case_batching.py [rounds=2] [cases_per_round=200] [concurrent=10]
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

# Ports of their own: `make bench` may run beside this.
bench.BASE, bench.NODE_GRPC, bench.NODE_HTTP = 29000, 29051, 29080

from querynode.v1 import querynode_pb2 as pb  # noqa: E402
from querynode.v1 import querynode_pb2_grpc  # noqa: E402

ROLES = ("seller", "buyer", "agent", "legal_representative")


def four_person_case(persons, i: int) -> pb.CheckCaseRequest:
    parties = [pb.CaseParty(role=role, name=p.name, id_number=p.id_number)
               for role, p in zip(ROLES, (persons[(4 * i + k) % len(persons)] for k in range(4)), strict=True)]
    return pb.CheckCaseRequest(context=pb.RequestContext(case_number=f"BATCH-{i:06d}", operator_id="clerk-bench",
                                                         purpose="转移登记", fresh=True),
                               registration_type="transfer", parties=parties)


async def identity_requests(http: aiohttp.ClientSession) -> int:
    port = bench.department_ports()["identity"]
    async with http.get(f"http://127.0.0.1:{port}/_admin/stats") as resp:
        return (await resp.json()).get("requests", 0)


IDENTITY_ONLY = bool(os.environ.get("BENCH_IDENTITY_ONLY"))


async def drive(stack: bench.Stack, node_pid: int, persons, start: int, cases: int, concurrent: int) -> dict:
    credentials = grpc.ssl_channel_credentials(root_certificates=Path(stack.pki.ca_cert).read_bytes())
    metadata = (("authorization", f"Bearer {stack.token}"),)
    async with aiohttp.ClientSession() as http, \
            grpc.aio.secure_channel(f"127.0.0.1:{bench.NODE_GRPC}", credentials) as channel:
        stub = querynode_pb2_grpc.QueryNodeStub(channel)
        await stub.CheckCase(four_person_case(persons, start), metadata=metadata, timeout=10)  # warm: TLS, pools
        latencies: list[float] = []
        queue = iter(range(start + 1, start + 1 + cases))

        async def client() -> None:
            for i in queue:
                t0 = time.perf_counter()
                reply = await stub.CheckCase(four_person_case(persons, i), metadata=metadata, timeout=10)
                latencies.append((time.perf_counter() - t0) * 1000)
                if any(c.status == pb.CHECK_STATUS_UNAVAILABLE for c in reply.checks
                       if not IDENTITY_ONLY or c.kind == "identity"):
                    raise SystemExit("a department was unavailable during the benchmark")

        asked0, cpu0 = await identity_requests(http), bench.cpu_seconds(node_pid)
        await asyncio.gather(*(client() for _ in range(concurrent)))
        cpu, asked = bench.cpu_seconds(node_pid) - cpu0, await identity_requests(http) - asked0
    return {"cases": len(latencies), "node_cpu_ms_per_case": cpu / len(latencies) * 1000,
            "identity_requests_per_case": asked / len(latencies), "p50_ms": statistics.median(latencies),
            "p99_ms": bench.percentile(latencies, 0.99)}


async def set_latency(ms: int | None) -> None:
    async with aiohttp.ClientSession() as http:
        for port in bench.department_ports().values():
            plan = {"latency": str(ms)} if ms else {}
            async with http.post(f"http://127.0.0.1:{port}/_admin/faults", json=plan) as resp:
                resp.raise_for_status()


def main() -> None:
    args = [int(a) for a in sys.argv[1:4]]
    rounds, cases, concurrent = args + [2, 200, 10][len(args):]
    from mocks.world import build as build_world

    world = build_world()
    persons = [p for p in world.persons if p.kind == "resident" and p.id_number not in world.deaths]
    stack = bench.prepare_stack()
    if IDENTITY_ONLY:
        stack.env = {k: v for k, v in stack.env.items()
                     if not k.startswith("QUERYNODE_DEPARTMENTS__") or k.startswith("QUERYNODE_DEPARTMENTS__IDENTITY__")}
    mocks = stack.start_mocks()
    results: dict[str, list[dict]] = {"batched": [], "one_per_person": []}
    try:
        asyncio.run(set_latency(50))
        start = 0
        for _ in range(rounds):
            for mode, size in (("one_per_person", "1"), ("batched", "20")):
                node = stack.start_node(env={"QUERYNODE_DEPARTMENTS__IDENTITY__OPTIONS__MAX_PERSONS_PER_CALL": size})
                try:
                    results[mode].append(asyncio.run(drive(stack, node.pid, persons, start, cases, concurrent)))
                finally:
                    node.terminate()
                    node.wait(timeout=30)
                start += cases + 1
    finally:
        mocks.terminate()
        mocks.wait(timeout=10)
    summary = {mode: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for mode, runs in results.items()}
    scope = "identity department only" if IDENTITY_ONLY else "every department"
    print(f"| mode ({concurrent} concurrent four-person cases, {scope}, 50 ms) | node CPU ms / case | "
          "identity requests / case | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for mode, s in summary.items():
        print(f"| {mode} | {s['node_cpu_ms_per_case']:.2f} | {s['identity_requests_per_case']:.2f} | "
              f"{s['p50_ms']:.1f} | {s['p99_ms']:.1f} |")
    out = bench.ROOT / "bench" / "results" / f"case-batching-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(), "machine": bench.machine(), "rounds": rounds,
                               "cases_per_round": cases, "concurrent": concurrent, "identity_only": IDENTITY_ONLY, "runs": results,
                               "median": summary}, indent=2) + "\n")
    print(f"wrote {out.relative_to(bench.ROOT)}")


if __name__ == "__main__":
    main()
