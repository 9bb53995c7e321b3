"""Interleaved A/B of two checkouts on a shared machine: `python bench/ab.py OLD_TREE NEW_TREE`.

Other work on the box makes absolute numbers drift within minutes, so the two trees run in
turns (A B B A ...) in one sitting and each figure is given as the median over the rounds
with its spread (min-max). What runs (`--what`): the stage budget of `make bench`
(BENCH_ONLY=stages; per stage and per whole call, hit / miss / CheckCase), the durable audit
throughput (SQLite and PostgreSQL), and `case`: CheckCase at 10 concurrent cases against the
tree's own node and mocks, departments 50 ms late (node CPU per case, p50, p99; 200 cases a
round). Each tree runs its own code: its bench/run.py from its own folder.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

AUDIT = ("import asyncio, json, sys; sys.path.insert(0, '.'); from bench.run import audit_throughput; "
         "r = asyncio.run(audit_throughput()); "
         "print(json.dumps({k: round(v['records_per_s']) for k, v in r.items()}))")


CASE = """
import asyncio, json, sys
sys.path[:0] = [".", "bench"]
import run as bench
from mocks.world import build
world, stack = build(), bench.prepare_stack()
mocks = stack.start_mocks()
node = stack.start_node()
try:
    asyncio.run(bench.case_checks(world, stack.pki.ca_cert, stack.token, node.pid, concurrent=10, per_client=2))
    r = asyncio.run(bench.case_checks(world, stack.pki.ca_cert, stack.token, node.pid, concurrent=10, per_client=20))
    print(json.dumps({"case CPU ms per case": r["node_cpu_ms_per_case"], "case p50 ms": r["p50_ms"],
                      "case p99 ms": r["p99_ms"]}))
finally:
    node.terminate(); mocks.terminate(); node.wait(); mocks.wait()
"""


def stages(tree: Path, calls: int) -> dict[str, float]:
    subprocess.run([sys.executable, "bench/run.py"], cwd=tree, check=True, capture_output=True,
                   env={**os.environ, "BENCH_ONLY": "stages", "BENCH_STAGE_CALLS": str(calls)})
    budget = json.loads((tree / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-stages.json").read_text())
    out = {}
    for kind, row in budget["stage_budget"].items():
        out[f"{kind} loop CPU µs"] = row["loop_cpu_us"]
        out[f"{kind} client wall µs"] = row["client_wall_us"]
        for name, figures in row["stages"].items():
            out[f"{kind} {name} CPU µs"] = figures["cpu_us"]
            out[f"{kind} {name} wall µs"] = figures["wall_us"]
    return out


def audit(tree: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", AUDIT], cwd=tree, check=True, capture_output=True, text=True).stdout
    return {f"audit {store} records/s": value for store, value in json.loads(out.splitlines()[-1]).items()}


def _n(value: float) -> str:
    """A figure as printed: one decimal below 100 (ms per case), whole above (µs, records/s)."""
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def case(tree: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CASE], cwd=tree, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=200, help="calls per kind in each stage budget")
    parser.add_argument("--what", choices=("stages", "audit", "both", "case"), default="both")
    parser.add_argument("--only", default="", help="comma-separated substrings: print only matching rows")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    loads = [os.getloadavg()[0]]
    for n in range(args.rounds):
        order = ("old", "new") if n % 2 == 0 else ("new", "old")
        for which in order:
            tree = args.old if which == "old" else args.new
            figures = {}
            if args.what in ("stages", "both"):
                figures.update(stages(tree.resolve(), args.calls))
            if args.what in ("audit", "both"):
                figures.update(audit(tree.resolve()))
            if args.what == "case":
                figures.update(case(tree.resolve()))
            runs[which].append(figures)
            loads.append(os.getloadavg()[0])
            print(f"round {n + 1} {which} done, load {loads[-1]:.1f}", file=sys.stderr)
    wanted = [w for w in args.only.split(",") if w]
    print(f"{args.rounds} interleaved rounds, load average (1 min) {min(loads):.1f}-{max(loads):.1f} "
          f"(median {statistics.median(loads):.1f}), {os.cpu_count()} CPUs\n")
    print("| figure | old median (min-max) | new median (min-max) | new/old |\n|---|---|---|---|")
    for name in runs["old"][0]:
        if wanted and not any(w in name for w in wanted):
            continue
        old = [r[name] for r in runs["old"] if name in r]
        new = [r[name] for r in runs["new"] if name in r]
        if not new:
            print(f"| {name} | {_n(statistics.median(old))} ({_n(min(old))}-{_n(max(old))}) | – | |")
            continue
        ratio = statistics.median(new) / statistics.median(old) if statistics.median(old) else float("nan")
        print(f"| {name} | {_n(statistics.median(old))} ({_n(min(old))}-{_n(max(old))}) | "
              f"{_n(statistics.median(new))} ({_n(min(new))}-{_n(max(new))}) | {ratio:.2f} |")
    for name in runs["new"][0]:
        if name not in runs["old"][0] and (not wanted or any(w in name for w in wanted)):
            new = [r[name] for r in runs["new"]]
            print(f"| {name} | – | {_n(statistics.median(new))} ({_n(min(new))}-{_n(max(new))}) | |")


if __name__ == "__main__":
    main()
