"""`make soak`: a bounded run at 70% of measured capacity with faults in two departments.

Starts the mock departments and the node (production pipeline, as `make bench`), injects
faults (marriage: 20% of requests answered 503; death: 10% of connections reset, the rest
20±5 ms late), measures the capacity of a mixed load (identity cache hits, marriage and death
lookups asked afresh) for 15 s, then drives 70% of it for SOAK_SECONDS (default 600) with
h2load while sampling the node's resident memory. It then checks:

- no call ended in an error: the injected faults become SOURCE_UNAVAILABLE answers (or a retry
  that succeeded), never a failed call, and never in a department without faults;
- resident memory grew less than 10% from the end of warm-up (the first tenth) to the end;
- the audit trail holds one record per call: no call has two, and only calls grpc cancelled
  before the hub began (the caller gone, the deadline passed) have none; `querynode audit
  verify` passes.

Writes bench/results/soak-<date>.json and .md; exits 1 when a check fails.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from run import NODE_GRPC, NODE_HTTP, PY, ROOT, department_ports, grpc_frame, prepare_stack, require_tools

from querynode.security.audit_store import INTENT
from querynode.v1 import querynode_pb2 as pb

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
PROBE_SECONDS = 15
CLIENTS = 4  # h2load connections per stream
FAULTS = {"marriage": {"error_rate": 0.2}, "death": {"reset_rate": 0.1, "latency": "normal:20:5"}}
def streams(samples: dict) -> dict[str, tuple[str, bytes]]:
    """Three kinds of call, each one h2load stream: (gRPC path, framed request)."""
    match = samples["identity"]["match"][0]

    def context(fresh: bool) -> pb.RequestContext:
        return pb.RequestContext(case_number="SOAK-0001", operator_id="soak", purpose="soak test", fresh=fresh)

    return {
        "identity_cache_hit": ("/querynode.v1.QueryNode/VerifyIdentity", grpc_frame(pb.VerifyIdentityRequest(
            context=context(False), id_number=match["id_number"], name=match["name"]))),
        "marriage_fresh": ("/querynode.v1.QueryNode/QueryMarriage", grpc_frame(pb.QueryMarriageRequest(
            context=context(True), id_number=match["id_number"], name=match["name"]))),
        "death_fresh": ("/querynode.v1.QueryNode/QueryDeath", grpc_frame(pb.QueryDeathRequest(
            context=context(True), id_number=match["id_number"], name=match["name"]))),
    }


def run_h2load(path: str, body: bytes, auth: str, seconds: int, rps_per_client: float | None) -> subprocess.Popen:
    data = Path(tempfile.mkstemp(suffix=".bin")[1])
    data.write_bytes(body)
    cmd = ["h2load", "-D", str(seconds), "-c", str(CLIENTS), "-m", "4", "-t", "1", "-d", str(data),
           "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", auth]
    if rps_per_client:
        cmd += [f"--rps={rps_per_client:.1f}"]
    return subprocess.Popen([*cmd, f"https://127.0.0.1:{NODE_GRPC}{path}"], stdout=subprocess.PIPE, text=True)


def finished(proc: subprocess.Popen) -> dict:
    out = proc.communicate()[0]
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if not done or not rps:
        raise SystemExit("h2load output not understood:\n" + out)
    return {"started": int(done.group(2)), "done": int(done.group(3)), "succeeded": int(done.group(4)), "failed": int(done.group(5)),
            "rps": float(rps.group(1))}


def scrape() -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{NODE_HTTP}/metrics", timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(querynode_(?:calls|queries)_total)\{([^}]*)\} ([\d.e+]+)$", line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2))))
            values[(m.group(1), labels)] = float(m.group(3))
    return values


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def set_faults(plan_by_department: dict) -> None:
    for dept, port in department_ports().items():  # every department: one without a plan is cleared
        request = urllib.request.Request(f"http://127.0.0.1:{port}/_admin/faults", method="POST",
                                         data=json.dumps(plan_by_department.get(dept, {})).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).read()


def main() -> None:
    require_tools("h2load")
    samples = json.loads((ROOT / "mocks" / "samples.json").read_text(encoding="utf-8"))
    stack = prepare_stack()
    procs = []
    result: dict = {"date": datetime.now(UTC).isoformat(), "seconds": SOAK_SECONDS, "faults": FAULTS}
    calls_made = calls_done = 0
    try:
        procs.append(stack.start_mocks())
        node = stack.start_node()
        procs.append(node)
        set_faults(FAULTS)
        kinds = streams(samples)
        # Capacity of the mix, all three streams at once, unthrottled.
        probes = {k: run_h2load(path, body, stack.auth, PROBE_SECONDS, None) for k, (path, body) in kinds.items()}
        probe = {k: finished(p) for k, p in probes.items()}
        calls_made += sum(p["started"] for p in probe.values())
        calls_done += sum(p["done"] for p in probe.values())
        result["capacity_rps"] = {k: p["rps"] for k, p in probe.items()}
        before = scrape()
        samples_rss: list[tuple[float, int]] = []
        stop = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not stop.wait(5):
                samples_rss.append((time.monotonic() - t0, rss_kib(node.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        loads = {k: run_h2load(path, body, stack.auth, SOAK_SECONDS, 0.7 * probe[k]["rps"] / CLIENTS)
                 for k, (path, body) in kinds.items()}
        load = {k: finished(p) for k, p in loads.items()}
        stop.set()
        sampler.join()
        calls_made += sum(p["started"] for p in load.values())
        calls_done += sum(p["done"] for p in load.values())
        after = scrape()
        result["calls_seen_by_node"] = sum(v for (metric, _), v in after.items() if metric == "querynode_calls_total")
        # Calls grpc cancelled (caller gone, deadline passed): those cut off before the hub
        # began have no record; the others have the hub's (CANCELLED, or the answer's).
        result["calls_cancelled"] = sum(v for (metric, key), v in after.items() if metric == "querynode_calls_total"
                                        and dict(key).get("code") in ("CANCELLED", "DEADLINE_EXCEEDED"))
        result["load"] = load
        result["rps_total"] = sum(p["rps"] for p in load.values())
        result["calls"] = _deltas(before, after, "querynode_calls_total", "code")
        result["queries"] = _deltas(before, after, "querynode_queries_total", "department", "outcome")
        warm = [kib for t, kib in samples_rss if t <= max(SOAK_SECONDS / 10, 5)]
        end = [kib for t, kib in samples_rss if t >= min(SOAK_SECONDS * 0.9, samples_rss[-1][0])]
        result["rss_kib"] = {"after_warm_up": warm[-1], "at_end": max(end), "samples": samples_rss}
        result["rss_growth"] = max(end) / warm[-1] - 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    audit = subprocess.run([PY, "-m", "querynode", "audit", "verify"], env=stack.env, capture_output=True, text=True,
                           cwd=ROOT, check=False)
    count = re.search(r"OK: (\d+) records", audit.stdout)
    result["audit"] = {"verify": audit.stdout.strip() or audit.stderr.strip(), "records": int(count.group(1)) if count
                       else None, "calls_started": calls_made, "calls_answered": calls_done,
                       "calls_with_two_records": calls_with_two_records(stack.work / "audit.sqlite")}
    # h2load ends a timed run by closing its connections: the calls then in flight are CANCELLED
    # by the client, not failed by the node.
    errors = {code: n for code, n in result["calls"].items() if code not in ("OK", "CANCELLED") and n}
    records = result["audit"]["records"] or 0
    unavailable = {key: n for key, n in result["queries"].items() if "SOURCE_UNAVAILABLE" in key and n}
    result["checks"] = {
        "no_errors_beyond_injected": not errors
        and all(key.split("/")[0] in FAULTS for key in unavailable),
        "rss_growth_under_10_percent": result["rss_growth"] < 0.10,
        "one_audit_record_per_call": result["calls_seen_by_node"] - result["calls_cancelled"] <= records
        <= result["calls_seen_by_node"] and calls_done <= records <= calls_made
        and result["audit"]["calls_with_two_records"] == 0,
        "audit_verify_passes": audit.returncode == 0,
    }
    write_report(result)
    raise SystemExit(0 if all(result["checks"].values()) else 1)


def calls_with_two_records(path: Path) -> int:
    """Request ids with more than one lookup record (intent records apart): each soak call has
    its own request id, so any is a call on record twice."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM (SELECT request_id FROM audit WHERE outcome != ? AND request_id != '' "
                          "GROUP BY request_id HAVING count(*) > 1)", (INTENT,)).fetchone()[0]


def _deltas(before: dict, after: dict, name: str, *labels: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (metric, key), value in after.items():
        if metric != name:
            continue
        label = dict(key)
        out_key = "/".join(label.get(k, "") for k in labels)
        out[out_key] = out.get(out_key, 0) + value - before.get((metric, key), 0)
    return out


def write_report(r: dict) -> None:
    out = ROOT / "bench" / "results"
    stamp = r["date"][:10]
    (out / f"soak-{stamp}.json").write_text(json.dumps(r, indent=2) + "\n")
    lines = [
        f"# Soak {r['date'][:19]}Z — {r['seconds']} s at 70% of measured capacity, faults {json.dumps(r['faults'])}", "",
        f"- capacity of the mix (rps): {json.dumps({k: round(v) for k, v in r['capacity_rps'].items()})}",
        f"- load driven: {r['rps_total']:.0f} calls/s; calls by code: {json.dumps(r['calls'])}",
        f"- lookups by department/outcome: {json.dumps({k: int(v) for k, v in r['queries'].items() if v})}",
        f"- resident memory after warm-up {r['rss_kib']['after_warm_up'] / 1024:.1f} MiB, at the end "
        f"{r['rss_kib']['at_end'] / 1024:.1f} MiB: growth {r['rss_growth'] * 100:+.1f}%",
        f"- audit: {r['audit']['records']} records; the node saw {r['calls_seen_by_node']:.0f} calls, "
        f"{r['calls_cancelled']:.0f} of them cancelled (caller gone or deadline passed; those cut off before the "
        f"hub began have no record); {r['audit']['calls_with_two_records']} calls with two records; h2load sent "
        f"{r['audit']['calls_started']} and had {r['audit']['calls_answered']} answered before it stopped; {r['audit']['verify']}",
        "", "| check | passed |", "|---|---|",
        *[f"| {name.replace('_', ' ')} | {'yes' if ok else '**NO**'} |" for name, ok in r["checks"].items()],
    ]
    (out / f"soak-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
