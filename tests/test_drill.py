"""`querynode drill` end to end: a demo-like node (every mock department, `serve --workers 2`,
drill mode, ephemeral ports) passes every failure class and gets a dated report; a node that
is not in drill mode, or a credential that is not a drill admin's, is refused; a node whose
readiness does not follow its audit store (the audit watch disabled, or stuck) fails the drill."""
from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from mocks.departments import build_departments
from querynode import drill as drill_module
from querynode.api.grpc.servicer import start_grpc_server
from querynode.api.http import drill_admin, json_api
from querynode.api.http.app import create_app
from querynode.api.http.monitoring import AUDIT_WATCH_KEY
from querynode.config import DrillSettings, SecuritySettings
from querynode.domain.model import Department
from querynode.drill import DrillOptions, run_drill
from querynode.node import Node
from querynode.observability.alert_rules import firing, load_rules, parse_scrape
from querynode.observability.health import AuditWatch
from querynode.security.authentication import authenticator_for, issue_token
from tests.conftest import APP_ID, make_settings
from tests.test_workers import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def all_mocks(world, dept_secret):
    """Every mock department over the shared world, each on an ephemeral port."""
    departments = [dept for _, dept in build_departments({APP_ID: dept_secret}, world=world)]
    for dept in departments:
        await dept.start()
    yield {Department(dept.name): dept.url for dept in departments}
    for dept in departments:
        await dept.stop()


def drill_config(folder: Path, urls: dict[Department, str], secret: str, *, drill: bool = True) -> Path:
    """Settings like the demo's (every department, tokens for the JSON API, drill mode), on
    fixed free loopback ports so that two workers can share them."""
    folder.mkdir(parents=True, exist_ok=True)
    breaker = {"cool_down_seconds": 1.0}
    settings = {
        "grpc": {"host": "127.0.0.1", "port": free_port()},
        "http": {"host": "127.0.0.1", "port": free_port()},
        "data_dir": str(folder), "node_key": secrets.token_hex(32),
        "drain_seconds": 0.2, "default_deadline_seconds": 3,
        "security": {"grpc_auth": "insecure-loopback", "http_auth": "token"},
        "drill": {"enabled": drill},
        "departments": {dept.value: {"url": url, "app_id": APP_ID, "secret": secret, "allow_plain_http": True,
                                     "breaker": breaker} for dept, url in urls.items()},
    }
    path = folder / "querynode.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    return path


def token_file(folder: Path, caller: str) -> Path:
    path = folder / f"{caller}.token"
    path.write_text(issue_token(folder / "secrets" / "tokens.json", caller) + "\n")
    return path


async def start_serve(config: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    url = f"http://127.0.0.1:{settings['http']['port']}"
    log = (config.parent / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "serve", "--config", str(config), *args, cwd=ROOT,
        stdout=log, stderr=log)
    import aiohttp

    async with asyncio.timeout(90):
        while True:
            assert proc.returncode is None, (config.parent / "serve.log").read_text()
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return proc, url
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


async def stop_serve(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
    async with asyncio.timeout(60):
        await proc.wait()


async def run_drill_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "querynode", "drill", *args, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("QUERYNODE_")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    async with asyncio.timeout(400):
        out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def test_drill_passes_every_class_on_a_demo_like_node_and_writes_the_report(tmp_path, all_mocks, dept_secret,
                                                                                 samples):
    config = drill_config(tmp_path / "node", all_mocks, dept_secret)
    admin = token_file(tmp_path / "node", "drill-admin")
    proc, url = await start_serve(config, "--workers", "2")
    try:
        code, out = await run_drill_cli("--url", url, "--token-file", str(admin),
                                        "--report-dir", str(tmp_path / "reports"), "--operator", "值班员")
    finally:
        await stop_serve(proc)
    assert code == 0, out
    [md_path] = (tmp_path / "reports").glob("应急演练记录-*.md")
    [json_path] = (tmp_path / "reports").glob("应急演练记录-*.json")
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["passed"] is True
    by_key = {c["key"]: c for c in report["classes"]}
    assert set(by_key) == set(drill_module.CLASS_KEYS)
    for key, result in by_key.items():
        assert result["status"] == "通过", (key, result)
        assert result["detect_seconds"] is not None and result["recover_seconds"] is not None
    assert "QueryNodeDepartmentDown" in by_key["department_down"]["alerts_firing"]
    assert "QueryNodeDepartmentSlow" in by_key["department_slow"]["alerts_firing"]
    assert "QueryNodeCacheBackendDown" in by_key["cache_down"]["alerts_firing"]
    assert {"QueryNodeAuditStoreNotWritable", "QueryNodeAuditWriteFailures"} <= set(
        by_key["audit_unwritable"]["alerts_firing"])
    markdown = md_path.read_text(encoding="utf-8")
    for heading in ("# 应急演练记录", "## 一、演练概况", "## 二、演练科目与结果", "## 三、各科目情况",
                    "## 四、发现的问题与整改措施", "## 五、数据说明", "## 六、签字确认"):
        assert heading in markdown
    # No personal data: the drill's synthetic numbers appear only masked, no sample person at all.
    text = markdown + json_path.read_text(encoding="utf-8")
    for person in (drill_module.PERSON_A, drill_module.PERSON_B, drill_module.PERSON_C):
        assert person["id_number"] not in text and person["name"] not in text
    for people in samples["identity"].values():
        for person in people:
            assert person["id_number"] not in text and person["name"] not in text
    # The switches were cleared: the node is back to normal for every worker.
    assert not (tmp_path / "node" / "drill-switches.json").exists() or json.loads(
        (tmp_path / "node" / "drill-switches.json").read_text()) == {}


async def test_drill_refuses_a_node_not_in_drill_mode_and_a_non_admin_credential(tmp_path, all_mocks, dept_secret):
    off = drill_config(tmp_path / "off", all_mocks, dept_secret, drill=False)
    admin = token_file(tmp_path / "off", "drill-admin")
    proc, url = await start_serve(off)
    try:
        code, out = await run_drill_cli("--url", url, "--token-file", str(admin), "--report-dir", str(tmp_path / "r1"))
        assert code != 0 and "not in drill mode" in out, out
    finally:
        await stop_serve(proc)
    on = drill_config(tmp_path / "on", all_mocks, dept_secret)
    clerk_system = token_file(tmp_path / "on", "registry-a")
    proc, url = await start_serve(on)
    try:
        code, out = await run_drill_cli("--url", url, "--token-file", str(clerk_system),
                                        "--report-dir", str(tmp_path / "r2"))
        assert code != 0 and "not a drill admin" in out, out
        code, out = await run_drill_cli("--url", url, "--token-file", str(tmp_path / "missing.token"),
                                        "--report-dir", str(tmp_path / "r3"))
        assert code != 0 and "no admin credential" in out, out
    finally:
        await stop_serve(proc)
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3"))


async def start_in_process(settings, broken_watch: str):
    """A drill-mode node in this process, wired as `run_node` wires it, whose audit watch is
    disabled ("disabled") or never sees the store come back ("stuck")."""
    node = await Node.start(settings)
    await node.audit_watch.stop()
    if broken_watch == "stuck":
        seen_down = False
        writable = node.audit_store.writable

        async def stuck() -> bool:
            nonlocal seen_down
            seen_down = seen_down or not await writable()
            return not seen_down

        node.audit_watch = AuditWatch(stuck, interval=0.2)
        await node.audit_watch.start()
    authenticator = authenticator_for(settings)
    server, grpc_port = await start_grpc_server(node.hub, "127.0.0.1", 0, anonymous_caller="local",
                                                cases=node.cases, audit_watch=node.audit_watch,
                                                authenticator=authenticator, credentials=None)
    app = create_app(node.hub, anonymous_caller="local", cases=node.cases)
    app[json_api.AUTH_KEY] = authenticator
    app[AUDIT_WATCH_KEY] = node.audit_watch
    drill_admin.add_routes(app, drill_admin.DrillAdmin(settings, node.faults, authenticator, False, grpc_port))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()

    async def stop() -> None:
        await server.stop(grace=None)
        await runner.cleanup()
        await node.close()

    return f"http://127.0.0.1:{runner.addresses[0][1]}", stop


@pytest.mark.parametrize("broken_watch, fails_at", [("disabled", "during"), ("stuck", "after")])
async def test_drill_reports_a_node_whose_readiness_does_not_follow_the_audit_store(
        tmp_path, identity_mock, dept_secret, broken_watch, fails_at):
    settings = make_settings(
        tmp_path, {Department.IDENTITY: identity_mock.url}, dept_secret, breaker={"cool_down_seconds": 0.5},
        security=SecuritySettings(grpc_auth="insecure-loopback", http_auth="token"),
        drill=DrillSettings(enabled=True))
    token = issue_token(tmp_path / "secrets" / "tokens.json", "drill-admin")
    url, stop = await start_in_process(settings, broken_watch)
    try:
        report, md_path, _ = await run_drill(DrillOptions(
            http_url=url, token=token, report_dir=tmp_path / "reports", classes=("audit_unwritable",),
            detect_budget=10, recover_budget=4))
    finally:
        await stop()
    assert report["passed"] is False
    [audit] = report["classes"]
    assert audit["status"] == "未通过"
    failed = [c["name"] for c in audit[fails_at] if not c["ok"]]
    assert any("gRPC" in name for name in failed), audit
    if fails_at == "after":
        assert audit["detect_seconds"] is not None and audit["recover_seconds"] is None
    else:
        assert audit["detect_seconds"] is None
    markdown = md_path.read_text(encoding="utf-8")
    assert "**未通过**" in markdown and "审计存储不可写：" in markdown


def test_alert_expressions_fire_on_a_failing_department_and_clear_without_traffic():
    rules = load_rules(drill_module.ALERTS_FILE)
    before = parse_scrape(
        '# TYPE querynode_upstream_calls_total counter\n'
        'querynode_upstream_calls_total{department="identity",outcome="ok"} 10\n'
        '# TYPE querynode_audit_store_writable gauge\nquerynode_audit_store_writable 1\n', 0.0, instance="n")
    after = parse_scrape(
        '# TYPE querynode_upstream_calls_total counter\n'
        'querynode_upstream_calls_total{department="identity",outcome="ok"} 11\n'
        'querynode_upstream_calls_total{department="identity",outcome="unavailable"} 5\n'
        '# TYPE querynode_audit_store_writable gauge\nquerynode_audit_store_writable 0\n', 10.0, instance="n")
    now = firing(rules, before, after)
    assert now["QueryNodeDepartmentDown"] == [{"department": "identity"}]
    assert now["QueryNodeAuditStoreNotWritable"] == [{"instance": "n"}]
    assert now["QueryNodeCacheBackendDown"] == []
    quiet = firing(rules, after, parse_scrape(
        '# TYPE querynode_upstream_calls_total counter\n'
        'querynode_upstream_calls_total{department="identity",outcome="ok"} 12\n'
        'querynode_upstream_calls_total{department="identity",outcome="unavailable"} 5\n', 20.0, instance="n"))
    assert not any(quiet.values())


# Counters growing linearly for 30 minutes: there a rate over any window is the slope, so the
# drill's reading of a range ("between two scrapes") and Prometheus' must give the same values.
LINEAR_SERIES = {  # series -> growth per minute (counters) or value (gauges, marked "=")
    'querynode_upstream_calls_total{department="identity",outcome="ok"}': 10,
    'querynode_upstream_calls_total{department="identity",outcome="unavailable"}': 30,
    'querynode_upstream_calls_total{department="death",outcome="ok"}': 40,
    'querynode_breaker_state{department="identity"}': "=2",
    'querynode_breaker_state{department="death"}': "=0",
    'querynode_upstream_call_duration_seconds_bucket{department="identity",le="0.5"}': 10,
    'querynode_upstream_call_duration_seconds_bucket{department="identity",le="5.0"}': 40,
    'querynode_upstream_call_duration_seconds_bucket{department="identity",le="+Inf"}': 40,
    'querynode_calls_total{code="OK",door="http",operation="VerifyIdentity"}': 50,
    'querynode_calls_total{code="UNAVAILABLE",door="http",operation="VerifyIdentity"}': 10,
    'querynode_call_duration_seconds_bucket{door="http",operation="VerifyIdentity",le="1.0"}': 30,
    'querynode_call_duration_seconds_count{door="http",operation="VerifyIdentity"}': 60,
    'querynode_cache_backend_errors_total{operation="get"}': 12,
    'querynode_audit_store_writable': "=0",
}


def _scrape_text(minute: int) -> str:
    lines = []
    for series, growth in LINEAR_SERIES.items():
        value = float(growth[1:]) if isinstance(growth, str) else growth * minute
        lines.append(f"{series} {value}")
    return "\n".join(lines) + "\n"


def test_alert_evaluator_gives_the_values_promtool_gives(tmp_path):
    """Every rule expression without increase() (whose value depends on the window's length),
    evaluated by the drill on scrapes at 0 and 30 minutes, matches promtool's evaluation of the
    same expression on the same series at 30 minutes."""
    import shutil
    import subprocess

    from querynode.observability.alert_rules import Evaluator

    labels = {"job": "querynode", "instance": "n"}
    start, now = parse_scrape(_scrape_text(0), 0.0, **labels), parse_scrape(_scrape_text(30), 1800.0, **labels)
    env = Evaluator(start, now)
    tests = []
    for rule in load_rules(drill_module.ALERTS_FILE):
        vector = env.evaluate(rule.expr)
        if rule.record:
            env.recorded[rule.name] = {frozenset(k) - {kv for kv in k if kv[0] == "__name__"}
                                       | {("__name__", rule.name)}: v for k, v in vector.items()}
        if "increase(" in rule.expr:
            continue
        # Both sides rounded the way PromQL's round(v, 1e-6) does: the last bits of a float differ.
        samples = [{"labels": "{" + ",".join(f'{k}="{v}"' for k, v in sorted(key) if k != "__name__") + "}",
                    "value": math.floor(value * 1e6 + 0.5) / 1e6} for key, value in vector.items()]
        tests.append({"expr": f"round({rule.expr}, 0.000001)", "eval_time": "30m", "exp_samples": samples})
    assert any(t["exp_samples"] for t in tests) and any(not t["exp_samples"] for t in tests)
    series = [{"series": s[:-1] + ',job="querynode",instance="n"}' if s.endswith("}")
               else s + '{job="querynode",instance="n"}',
               "values": (f"{g[1:]}x30" if isinstance(g, str) else f"0+{g}x30")} for s, g in LINEAR_SERIES.items()]
    spec = {"rule_files": [str(drill_module.ALERTS_FILE)], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}]}
    path = tmp_path / "evaluator_test.yml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([shutil.which("promtool") or "promtool", "test", "rules", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
