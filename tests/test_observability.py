"""Observability over real sockets: /metrics (checked by promtool), counters that move,
no personal data in metrics or logs, request ids end to end, gRPC health and reflection,
/healthz and /readyz, the alert rules and multi-process totals."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from multidict import CIMultiDict
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from mocks.departments import mock_classes
from querynode.core.operations import registry
from querynode.observability.logs import JsonFormatter
from querynode.v1 import querynode_pb2 as pb
from tests.conftest import ctx, json_ctx

ROOT = Path(__file__).resolve().parent.parent
PROMTOOL = "promtool"


# ------------------------------------------------------------------ helpers


@pytest.fixture
def json_logs():
    """Everything logged while the test runs, as the node's JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def log_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def call_line(stream: io.StringIO, request_id: str) -> dict:
    """The `call` log line of a request; the server may write it just after the client has
    its answer, so wait for it (bounded)."""
    for _ in range(100):
        for line in log_lines(stream):
            if line["msg"] == "call" and line.get("request_id") == request_id:
                return line
        await asyncio.sleep(0.05)
    raise AssertionError(f"no call log line for {request_id}")


async def scrape(http_url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"{http_url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return await r.text()


def value(text: str, name: str, **labels) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def post(http_url: str, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict, CIMultiDict]:
    async with aiohttp.ClientSession() as s, s.post(f"{http_url}{path}", json=body, headers=headers or {}) as r:
        return r.status, await r.json(content_type=None), r.headers.copy()


def present_departments() -> list[tuple[str, type]]:
    """Every registered department with its mock class (mocks name themselves)."""
    mocks = {cls.name: cls for cls in mock_classes()}
    return [(name, mocks[name]) for name in registry().departments]


# One example body per operation, from the seeded samples (test data, checked against the registry).
EXAMPLES = {
    "VerifyIdentity": lambda s: {k: s["identity"]["match"][0][k] for k in ("id_number", "name")},
    "LookupOrganization": lambda s: {"credit_code": s["credit_code"]["active"][0]["credit_code"]},
    "VerifyEnterprise": lambda s: {k: s["credit_code"]["active"][0][k] for k in ("credit_code", "name")},
    "QueryMarriage": lambda s: {k: s["marriage"]["married"][0][k] for k in ("id_number", "name")},
    "QueryJudgments": lambda s: {"case_number": s["court"]["sale_judgment"]["case_number"]},
    "QueryDeath": lambda s: {k: s["death"]["deceased"][0][k] for k in ("id_number", "name")},
    "QueryPlaceNames": lambda s: {"division_code": "110105"},
    "QueryFinancialLicense": lambda s: {"license_code": s["financial_license"]["licensed_bank"][0]["license_code"]},
    "LookupOrgan": lambda s: {"credit_code": s["organ"]["active"][0]["credit_code"]},
    "LookupSocialOrganization": lambda s: {"credit_code": s["social_org"]["active"][0]["credit_code"]},
    "QueryCremation": lambda s: {k: s["cremation"]["cremated"][0][k] for k in ("id_number", "name")},
}


def test_every_operation_has_an_example():
    assert set(EXAMPLES) == set(registry().operations)


def lookup_for(dept: str, samples: dict) -> tuple[str, dict]:
    """One JSON API lookup of the department, from the seeded samples."""
    op = next(op for op in registry().operations.values() if op.department == dept)
    return op.http_path, EXAMPLES[op.name](samples)


def personal_data(samples: dict) -> set[str]:
    """Every person name and ID number in the seeded samples."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, val in node.items():
                if isinstance(val, str) and (key.endswith("id_number") or key in ("name", "spouse_name")) \
                        and len(val) >= 2 and not val.endswith(("公司", "银行")):
                    found.add(val)
                else:
                    walk(val)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: samples[k] for k in ("identity", "marriage", "death") if k in samples})
    return found


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------ metrics over every department


async def test_scrape_after_every_department_passes_promtool_and_carries_no_personal_data(
        start_mock, node_for, samples, json_logs):
    departments = present_departments()
    assert "identity" in dict(departments)
    mocks = {dept: await start_mock(cls) for dept, cls in departments}
    running = await node_for({dept: m.url for dept, m in mocks.items()})

    for dept in mocks:
        path, body = lookup_for(dept, samples)
        for _ in range(2):  # the second is a cache hit
            status, answer, _ = await post(running.http_url, path, {"context": json_ctx(), **body})
            assert status == 200, (dept, answer)
            assert answer["verdict"] != "SOURCE_UNAVAILABLE", (dept, answer)
    person = samples["identity"]["match"][1]
    reply = await running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(), id_number=person["id_number"], name=person["name"]))
    assert reply.verdict == pb.IDENTITY_VERDICT_MATCH

    text = await scrape(running.http_url)
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for dept in mocks:
        assert value(text, "querynode_upstream_calls_total", department=dept, outcome="ok") >= 1, dept
        assert value(text, "querynode_upstream_call_duration_seconds_count", department=dept) >= 1, dept
        assert value(text, "querynode_cache_hits_total", department=dept) >= 1, dept
        assert value(text, "querynode_breaker_state", department=dept) == 0, dept
    assert value(text, "querynode_calls_total", operation="VerifyIdentity", door="grpc", code="OK") >= 1
    assert value(text, "querynode_calls_total", operation="VerifyIdentity", door="http", code="OK") >= 2
    assert value(text, "querynode_audit_write_duration_seconds_count") >= 2 * len(mocks) + 1
    assert value(text, "querynode_audit_store_writable") == 1
    assert value(text, "querynode_build_info") == 1

    logs = json_logs.getvalue()
    assert any(json.loads(line)["msg"] == "call" for line in logs.splitlines())
    for secret in personal_data(samples):
        assert secret not in text, "personal data in /metrics"
        assert secret not in logs, "personal data in the logs"


# ------------------------------------------------------------------ counters that move


async def test_cache_hit_increments_the_hit_counter(node, people):
    person = people[0]
    body = {"context": json_ctx(), "id_number": person.id_number, "name": person.name}
    await post(node.http_url, "/api/v1/identity/verify", body)
    before = await scrape(node.http_url)
    status, answer, _ = await post(node.http_url, "/api/v1/identity/verify", body)
    after = await scrape(node.http_url)
    assert status == 200 and answer["provenance"]["from_cache"] is True
    hits = value(after, "querynode_cache_hits_total", department="identity") - \
        value(before, "querynode_cache_hits_total", department="identity")
    misses = value(after, "querynode_cache_misses_total", department="identity") - \
        value(before, "querynode_cache_misses_total", department="identity")
    assert (hits, misses) == (1, 0)
    assert value(after, "querynode_queries_total", department="identity", outcome="CACHE_HIT") - \
        value(before, "querynode_queries_total", department="identity", outcome="CACHE_HIT") == 1


async def test_repeated_calls_look_no_metric_children_up_again(node, people, monkeypatch):
    """A call's counters move through children looked up once per label set, not through
    labels() (a lock and a validation) on every call; the counts still move."""
    from prometheus_client.metrics import MetricWrapperBase

    person = people[1]
    body = {"context": json_ctx(), "id_number": person.id_number, "name": person.name}
    for _ in range(2):  # the first calls create the children they need
        await post(node.http_url, "/api/v1/identity/verify", body)
    before = await scrape(node.http_url)
    lookups = []
    labels = MetricWrapperBase.labels
    monkeypatch.setattr(MetricWrapperBase, "labels", lambda self, *a, **k: (lookups.append(self._name),
                                                                            labels(self, *a, **k))[1])
    for _ in range(3):
        status, answer, _ = await post(node.http_url, "/api/v1/identity/verify", body)
        assert status == 200 and answer["provenance"]["from_cache"] is True
    monkeypatch.undo()
    after = await scrape(node.http_url)
    assert lookups == []
    assert value(after, "querynode_cache_hits_total", department="identity") - \
        value(before, "querynode_cache_hits_total", department="identity") == 3


async def test_retry_increments_retries_and_failures_are_counted_by_kind(node_for, fake_upstream, people):
    hits = 0

    async def down(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(status=503)

    running = await node_for({"identity": await fake_upstream(down)},
                                  retry={"max_attempts": 3, "initial_backoff_seconds": 0.001,
                                         "max_backoff_seconds": 0.002})
    before = await scrape(running.http_url)
    person = people[1]
    status, answer, _ = await post(running.http_url, "/api/v1/identity/verify",
                                   {"context": json_ctx(), "id_number": person.id_number, "name": person.name})
    after = await scrape(running.http_url)
    assert status == 200 and answer["verdict"] == "SOURCE_UNAVAILABLE"
    assert hits == 3
    assert value(after, "querynode_upstream_retries_total", department="identity") - \
        value(before, "querynode_upstream_retries_total", department="identity") == 2
    assert value(after, "querynode_upstream_calls_total", department="identity", outcome="unavailable") - \
        value(before, "querynode_upstream_calls_total", department="identity", outcome="unavailable") == 3


async def test_retry_budget_exhaustion_is_counted(node_for, fake_upstream, people):
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503)

    running = await node_for({"identity": await fake_upstream(down)},
                                  retry={"max_attempts": 3, "initial_backoff_seconds": 0.001,
                                         "max_backoff_seconds": 0.002})
    running.node.hub.guards["identity"].retry_budget.credits = 0  # spent by earlier failures
    running.node.hub.guards["identity"].retry_budget.ratio = 0
    before = await scrape(running.http_url)
    person = people[2]
    await post(running.http_url, "/api/v1/identity/verify",
               {"context": json_ctx(), "id_number": person.id_number, "name": person.name})
    after = await scrape(running.http_url)
    assert value(after, "querynode_retry_budget_exhausted_total", department="identity") - \
        value(before, "querynode_retry_budget_exhausted_total", department="identity") == 1
    assert value(after, "querynode_upstream_retries_total", department="identity") == \
        value(before, "querynode_upstream_retries_total", department="identity")


async def test_breaker_trip_sets_its_state_and_readyz_shows_it(node_for, fake_upstream, people):
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503)

    running = await node_for({"identity": await fake_upstream(down)},
                                  breaker={"consecutive_failures": 2, "cool_down_seconds": 600},
                                  retry={"max_attempts": 1})
    text = await scrape(running.http_url)
    assert value(text, "querynode_breaker_state", department="identity") == 0
    for person in people[3:6]:
        await post(running.http_url, "/api/v1/identity/verify",
                   {"context": json_ctx(), "id_number": person.id_number, "name": person.name})
    text = await scrape(running.http_url)
    assert value(text, "querynode_breaker_state", department="identity") == 2
    assert value(text, "querynode_breaker_rejections_total", department="identity") >= 1
    async with aiohttp.ClientSession() as s, s.get(f"{running.http_url}/readyz") as r:
        body = await r.json()
    assert r.status == 200  # a department down does not make the node unready: it answers SOURCE_UNAVAILABLE
    assert body["departments"]["identity"] == {"breaker": "open", "plain_http": True}


async def test_cache_backend_down_is_counted_and_calls_still_answered(node_for, identity_mock, people):
    running = await node_for({"identity": identity_mock.url},
                                  cache={"backend": "redis", "redis_url": "redis://127.0.0.1:9/0"})
    before = await scrape(running.http_url)
    person = people[7]
    status, answer, _ = await post(running.http_url, "/api/v1/identity/verify",
                                   {"context": json_ctx(), "id_number": person.id_number, "name": person.name})
    after = await scrape(running.http_url)
    assert status == 200 and answer["verdict"] in ("MATCH", "MISMATCH", "NOT_FOUND")
    assert value(after, "querynode_cache_backend_errors_total", operation="get") - \
        value(before, "querynode_cache_backend_errors_total", operation="get") == 1
    assert value(after, "querynode_cache_backend_errors_total", operation="set") - \
        value(before, "querynode_cache_backend_errors_total", operation="set") == 1
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{running.http_url}/readyz") as resp:
            ready = await resp.json()
    assert resp.status == 200 and ready["cache_backend_ok"] is False


async def test_refused_calls_are_counted_by_code_on_both_doors(node):
    before = await scrape(node.http_url)
    status, _, _ = await post(node.http_url, "/api/v1/identity/verify",
                              {"context": json_ctx(), "id_number": "123", "name": "x"})
    assert status == 400
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(), id_number="123", name="x"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = await scrape(node.http_url)
    for door in ("http", "grpc"):
        assert value(after, "querynode_calls_total", operation="VerifyIdentity", door=door, code="INVALID_ARGUMENT") - \
            value(before, "querynode_calls_total", operation="VerifyIdentity", door=door,
                  code="INVALID_ARGUMENT") == 1, door


# ------------------------------------------------------------------ request ids and log lines


async def test_request_id_travels_from_caller_to_department_and_back(node_for, fake_upstream, people, json_logs):
    seen: list[str] = []

    async def capture(request: web.Request) -> web.Response:
        seen.append(request.headers.get("X-Request-Id", ""))
        return web.Response(status=503)

    running = await node_for({"identity": await fake_upstream(capture)}, retry={"max_attempts": 1})
    person = people[8]
    body = {"context": json_ctx(), "id_number": person.id_number, "name": person.name}
    status, answer, headers = await post(running.http_url, "/api/v1/identity/verify", body,
                                         {"X-Request-Id": "clerk-req.0042"})
    assert status == 200
    assert headers["X-Request-Id"] == "clerk-req.0042"
    assert answer["provenance"]["request_id"] == "clerk-req.0042"
    assert seen == ["clerk-req.0042"]

    call = running.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(request_id="registry-7f3a"), id_number=person.id_number, name=person.name))
    reply = await call
    assert dict(await call.trailing_metadata())["x-request-id"] == "registry-7f3a"
    assert reply.provenance.request_id == "registry-7f3a"
    assert seen[-1] == "registry-7f3a"

    by_id = {rid: await call_line(json_logs, rid) for rid in ("clerk-req.0042", "registry-7f3a")}
    assert by_id["clerk-req.0042"]["door"] == "http"
    assert by_id["registry-7f3a"]["door"] == "grpc"
    for line in (by_id["clerk-req.0042"], by_id["registry-7f3a"]):
        assert line["operation"] == "VerifyIdentity"
        assert line["caller"] == "test-registry"
        assert line["outcome"] == "SOURCE_UNAVAILABLE"
        assert line["code"] == "OK"
        assert line["latency_ms"] > 0
    dept_failed = [line for line in log_lines(json_logs) if line["msg"] == "department failed"]
    assert {line["request_id"] for line in dept_failed} >= {"clerk-req.0042", "registry-7f3a"}
    assert person.name not in json_logs.getvalue() and person.id_number not in json_logs.getvalue()


async def test_request_id_is_generated_when_absent_or_unusable(node, people, json_logs):
    person = people[9]
    body = {"context": json_ctx(), "id_number": person.id_number, "name": person.name}
    _, answer, headers = await post(node.http_url, "/api/v1/identity/verify", body)
    generated = headers["X-Request-Id"]
    assert len(generated) == 32 and answer["provenance"]["request_id"] == generated
    # Free text (here: a person's ID number with a space) never becomes a request id.
    unusable = f"id {person.id_number}"
    _, answer, headers = await post(node.http_url, "/api/v1/identity/verify", body, {"X-Request-Id": unusable})
    assert headers["X-Request-Id"] != unusable and answer["provenance"]["request_id"] == headers["X-Request-Id"]
    call = node.stub.VerifyIdentity(pb.VerifyIdentityRequest(
        context=ctx(request_id="名字"), id_number=person.id_number, name=person.name))
    reply = await call
    sent = dict(await call.trailing_metadata())["x-request-id"]
    assert len(sent) == 32 and reply.provenance.request_id == sent
    assert "名字" not in json_logs.getvalue() and person.id_number not in json_logs.getvalue()
    # A refused gRPC call still gets its id and its log line.
    bad = node.stub.VerifyIdentity(pb.VerifyIdentityRequest(context=ctx(request_id="bad-1"), id_number="1", name="x"))
    with pytest.raises(grpc.aio.AioRpcError):
        await bad
    assert dict(await bad.trailing_metadata())["x-request-id"] == "bad-1"
    assert "x-request-id" not in dict(await bad.initial_metadata())  # sent with the status, not apart
    line = await call_line(json_logs, "bad-1")
    assert line["code"] == "INVALID_ARGUMENT" and line["outcome"] == "INVALID_ARGUMENT"


def test_json_formatter_keeps_known_fields_and_drops_exception_text():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("querynode.test-formatter")
    logger.addHandler(handler)
    logger.propagate = False
    name, id_number = "龙怡颖", "132929197312070724"
    try:
        try:
            raise ValueError(f"{name} {id_number}")
        except ValueError:
            logger.exception("lookup broke", extra={"department": "identity", "person_name": name})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "lookup broke" and line["department"] == "identity"
    assert line["error_type"] == "ValueError" and "raise ValueError" in line["stack"]
    assert name not in stream.getvalue() and id_number not in stream.getvalue()


# ------------------------------------------------------------------ health, readiness, reflection


async def test_grpc_health_follows_the_audit_store(node):
    channel = grpc.aio.insecure_channel(node.grpc_target)
    health = health_pb2_grpc.HealthStub(channel)
    try:
        for service in ("", "querynode.v1.QueryNode"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
        watch = health.Watch(health_pb2.HealthCheckRequest(service="querynode.v1.QueryNode"))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

        await node.node.audit_store.close()  # the audit store goes away
        update = await asyncio.wait_for(watch.read(), timeout=10)
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{node.http_url}/readyz") as r:
                assert r.status == 503 and (await r.json())["audit_store_writable"] is False
            async with s.get(f"{node.http_url}/healthz") as r:
                assert r.status == 200  # alive, just not ready

        await node.node.audit_store.open()  # and comes back
        update = await asyncio.wait_for(watch.read(), timeout=10)
        assert update.status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        async with aiohttp.ClientSession() as s, s.get(f"{node.http_url}/readyz") as r:
            body = await r.json()
        assert r.status == 200 and body["status"] == "ready" and body["configuration_loaded"] is True
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await channel.close()


async def test_reflection_lists_the_query_node_service(node):
    channel = grpc.aio.insecure_channel(node.grpc_target)
    try:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = [reply async for reply in stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
        names = {s.name for s in replies[0].list_services_response.service}
        assert {"querynode.v1.QueryNode", "grpc.health.v1.Health"} <= names
    finally:
        await channel.close()


async def test_healthz_and_readyz_list_departments(node):
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{node.http_url}/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "alive"
        async with s.get(f"{node.http_url}/readyz") as r:
            body = await r.json()
    assert r.status == 200
    assert body["departments"]["identity"] == {"breaker": "closed", "plain_http": True}


# ------------------------------------------------------------------ alert rules, multi-process


def test_alert_rules_pass_promtool():
    checked = promtool("check", "rules", str(ROOT / "deploy" / "prometheus" / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_dashboard_queries_only_metrics_the_node_defines():
    from querynode.observability import metrics as m

    defined = {c._name + ("_total" if c._type == "counter" else "")
               for c in vars(m).values() if hasattr(c, "_name") and hasattr(c, "_type")}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "querynode.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    import re

    used = {re.sub(r"_(bucket|count|sum)$", "", name) for e in exprs for name in re.findall(r"querynode_[a-z_]+", e)}
    assert used <= defined, used - defined
    assert {"querynode_breaker_state", "querynode_cache_hits_total", "querynode_audit_write_failures_total",
            "querynode_upstream_call_duration_seconds"} <= used


def test_multiprocess_workers_sum_their_counts(tmp_path):
    """Two worker processes count calls; a third renders /metrics' body: the totals add up."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = textwrap.dedent("""
        from querynode.observability.calls import observe_call
        for _ in range(3):
            with observe_call("grpc", "VerifyIdentity", "r"):
                pass
    """)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, cwd=ROOT, check=True, timeout=60)
    render = "from querynode.observability.metrics import exposition; print(exposition()[0].decode())"
    out = subprocess.run([sys.executable, "-c", render], env=env, cwd=ROOT, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    assert value(out, "querynode_calls_total", operation="VerifyIdentity", door="grpc", code="OK") == 6
    assert value(out, "querynode_call_duration_seconds_count", operation="VerifyIdentity", door="grpc") == 6
    checked = promtool("check", "metrics", stdin=out)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_log_lines_are_written_off_the_loop_with_their_call_id_and_none_lost_at_exit():
    """configure(): the writer thread formats and writes; the request id is the one of the call
    that logged (read where it was logged), and every queued line is written before exit."""
    script = (
        "import logging\n"
        "from querynode.observability.logs import REQUEST_ID, configure\n"
        "configure()\n"
        "log = logging.getLogger('querynode.calls')\n"
        "for i in range(2000):\n"
        "    REQUEST_ID.set(f'call-{i}')\n"
        "    log.info('call', extra={'door': 'grpc', 'latency_ms': i})\n"
        "REQUEST_ID.set('')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) == 2000
    assert all(line["request_id"] == f"call-{line['latency_ms']}" for line in lines)


@pytest.mark.parametrize("remaining, code", [(-0.01, "DEADLINE_EXCEEDED"), (0.0, "DEADLINE_EXCEEDED"),
                                             (2.5, "CANCELLED"), (None, "CANCELLED")])
def test_a_cancelled_grpc_call_counts_as_its_deadline_or_its_caller_never_as_internal(remaining, code):
    """grpc cancels a call's task when its deadline passes or its caller hangs up; the door
    names which (the test with a real caller hanging up: tests/test_security_audit.py)."""
    from querynode.api.grpc.observing import _cancelled_code

    class Context:
        def time_remaining(self):
            return remaining

    assert _cancelled_code(Context()) == code


@pytest.mark.parametrize("code, fires", [("CANCELLED", False), ("INTERNAL", True), ("DEADLINE_EXCEEDED", True)])
def test_calls_the_caller_gave_up_are_not_node_errors_for_the_error_ratio_alert(code, fires):
    """QueryNodeHighErrorRatio over two scrapes five minutes apart, 100 calls of which 20 end in
    `code`: a caller hanging up (CANCELLED) is not the node's failure; the others are."""
    from querynode.drill import ALERTS_FILE
    from querynode.observability.alert_rules import firing, load_rules, parse_scrape

    def scrape(at: float, ok: int, other: int):
        text = ("# TYPE querynode_calls_total counter\n"
                f'querynode_calls_total{{operation="VerifyIdentity",door="grpc",code="OK"}} {ok}\n'
                f'querynode_calls_total{{operation="VerifyIdentity",door="grpc",code="{code}"}} {other}\n')
        return parse_scrape(text, at, job="querynode", instance="n")

    alerts = firing(load_rules(ALERTS_FILE), scrape(0.0, 0, 0), scrape(300.0, 80, 20))
    assert bool(alerts["QueryNodeHighErrorRatio"]) is fires
