"""`querynode drill`: an emergency drill (应急演练) against a running node in drill mode.

For each failure class it turns on the node's fault switches (querynode/faults.py, over
/_admin/faults with an admin token), checks that the node behaves as documented, clears the
switches, checks that it recovers, and measures the time to detect (every check of the fault
passing) and to recover (every check of the healthy node passing again). It writes a dated
report in Markdown and JSON with the headings a registration centre files.

Checks come from the node's outside only: JSON API answers and their time against the
node's default deadline, case-check records (INCOMPLETE with what to verify by hand), the
alert rules of deploy/prometheus/alerts.yml evaluated on /metrics scrapes, /readyz and gRPC
health. The drill sends no personal data: its lookups use synthetic ID numbers of people born
in 1880 (the oldest the node accepts), shown masked in the report.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from stdnum.cn import ric

from querynode.domain.model import SHANGHAI
from querynode.observability.alert_rules import Rule, Scrape, firing, load_rules, parse_scrape
from querynode.security.masking import mask_id_number, mask_name

ALERTS_FILE = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"
DRILLED_DEPARTMENT = "identity"


def synthetic_id(sequence: int) -> str:
    """A valid resident ID number of nobody: born 1880-01-01 in Beijing Chaoyang."""
    body = f"11010518800101{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


# Two drill persons: A is asked while the node is healthy (so a stale answer exists), B never is.
PERSON_A = {"name": "演练甲", "id_number": synthetic_id(991)}
PERSON_B = {"name": "演练乙", "id_number": synthetic_id(992)}
PERSON_C = {"name": "演练丙", "id_number": synthetic_id(993)}


class DrillRefused(Exception):
    """The node is not in drill mode, or the credential is not a drill admin's."""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ClassResult:
    key: str
    title: str
    fault: str
    expected: str
    status: str = "未通过"  # 通过 / 未通过 / 不适用
    detect_seconds: float | None = None
    recover_seconds: float | None = None
    during: list[Check] = field(default_factory=list)
    after: list[Check] = field(default_factory=list)
    alerts_firing: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.status in ("通过", "不适用")


@dataclass
class DrillOptions:
    http_url: str
    token: str
    report_dir: Path
    operator: str = "drill"
    classes: tuple[str, ...] = ()
    grpc_credentials: Any = None  # grpc.ChannelCredentials, or None for plain text
    detect_budget: float = 60.0
    recover_budget: float = 90.0
    alerts_file: Path = ALERTS_FILE


class NodeClient:
    """The drill's view of the node: its JSON API, probes, metrics and drill switches. Every
    request on a new connection, so that under `--workers` each may reach another worker."""

    def __init__(self, options: DrillOptions) -> None:
        self.url = options.http_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {options.token}"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                             timeout=aiohttp.ClientTimeout(total=120))
        self.case = f"演练-{datetime.now(SHANGHAI):%Y%m%d-%H%M%S}"
        self.status: dict[str, Any] = {}
        self.departments: list[str] = []  # as /readyz lists them

    async def close(self) -> None:
        await self.session.close()

    async def _json(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        started = time.monotonic()
        async with self.session.request(method, self.url + path, json=body, headers=self.headers) as r:
            try:
                payload = await r.json(content_type=None)
            except ValueError:
                payload = None
            return r.status, payload, time.monotonic() - started

    async def switches(self, body: dict | None = None) -> dict:
        status, payload, _ = await self._json("POST" if body is not None else "GET", "/_admin/faults", body)
        if status in (401, 403):
            raise DrillRefused((payload or {}).get("error", f"HTTP {status}"))
        if status != 200:
            raise RuntimeError(f"/_admin/faults answered HTTP {status}: {payload}")
        self.status = payload
        return payload

    async def kill_worker(self) -> tuple[int, Any]:
        status, payload, _ = await self._json("POST", "/_admin/faults", {"kill_worker": True})
        return status, payload

    def _context(self, fresh: bool) -> dict:
        return {"case_number": self.case, "operator_id": "drill", "purpose": "应急演练", "fresh": fresh}

    async def verify(self, person: dict, *, fresh: bool = True) -> tuple[int, dict, float]:
        body = {"context": self._context(fresh), "id_number": person["id_number"], "name": person["name"]}
        status, payload, seconds = await self._json("POST", "/api/v1/identity/verify", body)
        return status, payload or {}, seconds

    async def check_case(self, registration_type: str, parties: list[dict]) -> tuple[int, dict, float]:
        body = {"context": self._context(True), "registration_type": registration_type, "parties": parties}
        status, payload, seconds = await self._json("POST", "/api/v1/cases/check", body)
        return status, payload or {}, seconds

    async def readyz(self) -> tuple[int, dict]:
        async with self.session.get(self.url + "/readyz") as r:
            return r.status, await r.json(content_type=None)

    async def pid(self) -> int | None:
        try:
            async with self.session.get(self.url + "/healthz") as r:
                return (await r.json())["pid"]
        except aiohttp.ClientError:
            return None

    async def scrape(self) -> Scrape:
        async with self.session.get(self.url + "/metrics") as r:
            text = await r.text()
        return parse_scrape(text, time.monotonic(), job="querynode", instance=urlsplit(self.url).netloc)


async def grpc_serving(client: NodeClient, credentials: Any) -> bool | None:
    """gRPC health of the whole server (what load balancers read); None if not checkable."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = client.status.get("grpc", {}).get("port")
    mode = client.status.get("grpc", {}).get("auth")
    if not port:
        return None
    target = f"{urlsplit(client.url).hostname}:{port}"
    if mode == "insecure-loopback":
        channel = grpc.aio.insecure_channel(target)
    elif credentials is None:
        return None
    else:
        channel = grpc.aio.secure_channel(target, credentials)
    async with channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5,
                metadata=(("authorization", client.headers["Authorization"]),))
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


# ------------------------------------------------------------------ the classes


@dataclass
class FailureClass:
    key: str
    title: str
    fault: str
    expected: str
    switches: Callable[[NodeClient], dict]
    expected_alerts: Callable[[NodeClient], set[str]]
    during: Callable[["Drill"], Awaitable[list[Check]]]
    ready_during: bool = True


def _deadline(client: NodeClient) -> float:
    return float(client.status.get("default_deadline_seconds", 5.0))


def _within(client: NodeClient, seconds: float) -> bool:
    return seconds <= _deadline(client) + max(0.5, 0.2 * _deadline(client))


def _unavailable_or_stale(name: str, client: NodeClient, status: int, payload: dict, seconds: float,
                          stale_allowed: bool) -> Check:
    provenance = payload.get("provenance") or {}
    verdict = payload.get("verdict")
    kinds = ["SOURCE_UNAVAILABLE"] + (["STALE"] if stale_allowed else [])
    got = "STALE" if provenance.get("stale") else verdict
    ok = status == 200 and got in kinds and _within(client, seconds) and (
        got == "STALE" or bool(provenance.get("unavailable_reason")))
    return Check(name, ok, f"HTTP {status}, {got}, {seconds:.2f} s (deadline {_deadline(client):g} s)"
                 + (f", reason: {provenance.get('unavailable_reason')}" if provenance.get("unavailable_reason") else ""))


async def _one_department_answers(drill: "Drill", slow: bool) -> list[Check]:
    c = drill.client
    if slow:  # each takes the whole deadline: ask both at once
        (sa, pa, ta), (sb, pb, tb) = await asyncio.gather(c.verify(PERSON_A), c.verify(PERSON_B))
    else:
        (sa, pa, ta), (sb, pb, tb) = await c.verify(PERSON_A), await c.verify(PERSON_B)
    checks = [
        _unavailable_or_stale("已缓存的核验：过期缓存（STALE）或来源不可用，限时内答复", c, sa, pa, ta, True),
        _unavailable_or_stale("未缓存的核验：来源不可用（SOURCE_UNAVAILABLE），限时内答复", c, sb, pb, tb, False),
    ]
    checks.append(await _case_incomplete(drill, "change", [{"role": "holder", **PERSON_B}], minimum=1))
    return checks


async def _case_incomplete(drill: "Drill", registration_type: str, parties: list[dict], minimum: int) -> Check:
    status, payload, seconds = await drill.client.check_case(registration_type, parties)
    record = payload.get("record") or {}
    by_hand = record.get("by_hand") or []
    ok = status == 200 and record.get("status") == "INCOMPLETE" and len(by_hand) >= minimum
    return Check("案件核查：INCOMPLETE，并列出须人工核验事项", ok,
                 f"HTTP {status}, {record.get('status')}, 人工核验 {len(by_hand)} 项, {seconds:.2f} s")


async def _all_departments(drill: "Drill") -> list[Check]:
    c = drill.client
    status, payload, seconds = await c.verify(PERSON_B)
    checks = [_unavailable_or_stale("身份核验：来源不可用，限时内答复", c, status, payload, seconds, False)]
    parties = [{"role": "seller", **PERSON_B}, {"role": "buyer", **PERSON_C}]
    checks.append(await _case_incomplete(drill, "transfer", parties, minimum=6))
    return checks


async def _cache_down(drill: "Drill") -> list[Check]:
    c = drill.client
    answers = [await c.verify(PERSON_A, fresh=False) for _ in range(3)]
    ok = all(s == 200 and (p.get("provenance") or {}).get("from_cache") is False
             and p.get("verdict") == drill.baseline_verdict for s, p, _ in answers)
    status, ready = await c.readyz()
    return [
        Check("缓存中断时直接向部门查询，结论与正常时一致", ok,
              ", ".join(f"HTTP {s} {p.get('verdict')} from_cache={(p.get('provenance') or {}).get('from_cache')}"
                        for s, p, _ in answers)),
        Check("就绪检查报告缓存异常（仍就绪）", status == 200 and ready.get("cache_backend_ok") is False,
              f"/readyz HTTP {status}, cache_backend_ok={ready.get('cache_backend_ok')}"),
    ]


async def _audit_unwritable(drill: "Drill") -> list[Check]:
    c = drill.client
    status, payload, seconds = await c.verify(PERSON_A)
    refused = status == 503 and "verdict" not in payload and "audit_unavailable" in str(payload.get("type"))
    ready_status, ready = await c.readyz()
    return [
        Check("审计不可写时拒绝答复（fail-closed, AUDIT_UNAVAILABLE）", refused,
              f"HTTP {status}, {payload.get('title') or payload.get('verdict')}, {seconds:.2f} s"),
        Check("就绪检查 /readyz 为 503", ready_status == 503 and ready.get("audit_store_writable") is False,
              f"/readyz HTTP {ready_status}, audit_store_writable={ready.get('audit_store_writable')}"),
    ]


CLASSES: tuple[FailureClass, ...] = (
    FailureClass(
        "department_down", "单个部门接口中断", f"{DRILLED_DEPARTMENT} 部门每次请求均失败（节点内模拟，不访问部门）",
        "过期缓存（STALE）或来源不可用（SOURCE_UNAVAILABLE），限时内答复；案件核查 INCOMPLETE 并列出人工核验事项；"
        "QueryNodeDepartmentDown 告警；节点仍就绪",
        lambda c: {"departments": {DRILLED_DEPARTMENT: {"error_rate": 1}}},
        lambda c: {"QueryNodeDepartmentDown"},
        lambda d: _one_department_answers(d, slow=False)),
    FailureClass(
        "department_slow", "单个部门响应超时", f"{DRILLED_DEPARTMENT} 部门响应慢于截止时间（节点内模拟）",
        "截止时间内答复 STALE 或 SOURCE_UNAVAILABLE；案件核查 INCOMPLETE；QueryNodeDepartmentSlow 告警；节点仍就绪",
        lambda c: {"departments": {DRILLED_DEPARTMENT: {"latency": f"{(_deadline(c) + 1) * 1000:.0f}"}}},
        lambda c: {"QueryNodeDepartmentSlow"},
        lambda d: _one_department_answers(d, slow=True)),
    FailureClass(
        "all_departments_down", "全部部门接口中断", "所有部门每次请求均失败（节点内模拟）",
        "来源不可用，限时内答复；案件核查 INCOMPLETE，逐项列出人工核验事项；各部门 QueryNodeDepartmentDown 告警；节点仍就绪",
        lambda c: {"departments": {d: {"error_rate": 1} for d in c.departments}},
        lambda c: {"QueryNodeDepartmentDown"},
        _all_departments),
    FailureClass(
        "cache_down", "缓存服务中断", "缓存后端每次读写均失败（节点内模拟）",
        "直接向部门查询，结论不变；QueryNodeCacheBackendDown 告警；节点仍就绪",
        lambda c: {"cache_down": True}, lambda c: {"QueryNodeCacheBackendDown"}, _cache_down),
    FailureClass(
        "audit_unwritable", "审计存储不可写", "审计存储写入均失败、报告不可写（节点内模拟）",
        "拒绝答复（fail-closed）；/readyz 503、gRPC 健康检查 NOT_SERVING；"
        "QueryNodeAuditStoreNotWritable、QueryNodeAuditWriteFailures 告警",
        lambda c: {"audit_unwritable": True},
        lambda c: {"QueryNodeAuditStoreNotWritable", "QueryNodeAuditWriteFailures"},
        _audit_unwritable, ready_during=False),
)
WORKER_KILLED = ("worker_killed", "工作进程异常退出", "强制结束一个工作进程（SIGKILL，serve --workers N）",
                 "其余工作进程继续答复；父进程自动重启该进程；节点持续就绪")
CLASS_KEYS = tuple(c.key for c in CLASSES) + (WORKER_KILLED[0],)


class Drill:
    def __init__(self, options: DrillOptions) -> None:
        self.options = options
        self.client = NodeClient(options)
        self.rules: list[Rule] = load_rules(options.alerts_file)
        self.baseline_verdict = ""

    # ---------------------------------------------------------------- helpers

    async def _alerts(self, since: Scrape) -> dict[str, list[dict[str, str]]]:
        now = await self.client.scrape()
        return {name: series for name, series in firing(self.rules, since, now).items() if series}

    async def _readiness(self, expect_ready: bool) -> list[Check]:
        status, body = await self.client.readyz()
        serving = await grpc_serving(self.client, self.options.grpc_credentials)
        word = "就绪" if expect_ready else "不就绪"
        checks = [Check(f"/readyz {word}", (status == 200) == expect_ready, f"HTTP {status}, {body.get('status')}")]
        if serving is None:
            checks.append(Check("gRPC 健康检查", True, "未检查：无 gRPC 客户端证书（--grpc-cert/--grpc-key）"))
        else:
            checks.append(Check(f"gRPC 健康检查 {'SERVING' if expect_ready else 'NOT_SERVING'}",
                                serving == expect_ready, "SERVING" if serving else "NOT_SERVING"))
        return checks

    async def _healthy(self, since: Scrape, expected_alerts: set[str]) -> list[Check]:
        c = self.client
        status, payload, seconds = await c.verify(PERSON_A)
        provenance = payload.get("provenance") or {}
        checks = [Check("部门恢复答复（非过期缓存）", status == 200 and payload.get("verdict") != "SOURCE_UNAVAILABLE"
                        and not provenance.get("stale"), f"HTTP {status}, {payload.get('verdict')}, {seconds:.2f} s")]
        checks += await self._readiness(True)
        ready_status, ready = await c.readyz()
        open_breakers = [d for d, s in (ready.get("departments") or {}).items() if s.get("breaker") != "closed"]
        checks.append(Check("各部门熔断器闭合、缓存正常", not open_breakers and ready.get("cache_backend_ok") is True,
                            f"未闭合: {', '.join(open_breakers) or '无'}; cache_backend_ok={ready.get('cache_backend_ok')}"))
        alerts = await self._alerts(since)
        still = sorted(set(alerts) & expected_alerts)
        checks.append(Check("告警解除", not still, f"仍触发: {', '.join(still) or '无'}"))
        return checks

    async def _until(self, budget: float, probe: Callable[[], Awaitable[list[Check]]]) -> tuple[float | None, list[Check]]:
        """Run `probe` until every check passes or the budget is spent: (seconds, last checks)."""
        started = time.monotonic()
        while True:
            try:
                checks = await probe()
            except (aiohttp.ClientError, TimeoutError) as exc:  # a dying worker, a node restarting
                checks = [Check("节点可连接", False, type(exc).__name__)]
            elapsed = time.monotonic() - started
            if all(c.ok for c in checks):
                return round(elapsed, 3), checks
            if elapsed > budget:
                return None, checks
            await asyncio.sleep(0.3)

    # ---------------------------------------------------------------- a class

    async def run_class(self, fc: FailureClass) -> ClassResult:
        result = ClassResult(fc.key, fc.title, fc.fault, fc.expected)
        c = self.client
        await c.switches({})
        _, baseline = await self._until(self.options.recover_budget, lambda: self._healthy_baseline())
        if not all(x.ok for x in baseline):
            result.note = "演练前节点未处于正常状态，未注入故障"
            result.during = baseline
            return result
        expected_alerts = fc.expected_alerts(c)
        start = await c.scrape()
        await c.switches(fc.switches(c))
        try:
            async def during() -> list[Check]:
                checks = await fc.during(self)
                checks += await self._readiness(fc.ready_during)
                alerts = await self._alerts(start)
                result.alerts_firing = alerts
                missing = sorted(expected_alerts - set(alerts))
                checks.append(Check("告警触发: " + "、".join(sorted(expected_alerts)), not missing,
                                    f"已触发: {', '.join(sorted(alerts)) or '无'}"))
                return checks

            result.detect_seconds, result.during = await self._until(self.options.detect_budget, during)
        finally:
            await c.switches({})
        cleared = await c.scrape()
        result.recover_seconds, result.after = await self._until(
            self.options.recover_budget, lambda: self._healthy(cleared, expected_alerts))
        result.status = "通过" if result.detect_seconds is not None and result.recover_seconds is not None else "未通过"
        return result

    async def _healthy_baseline(self) -> list[Check]:
        status, payload, _ = await self.client.verify(PERSON_A)  # also leaves A in the cache
        self.baseline_verdict = payload.get("verdict", "")
        ready_status, ready = await self.client.readyz()
        return [Check("演练前：核验有答复", status == 200 and payload.get("verdict") != "SOURCE_UNAVAILABLE"
                      and not (payload.get("provenance") or {}).get("stale"), f"HTTP {status} {payload.get('verdict')}"),
                Check("演练前：节点就绪、熔断器闭合", ready_status == 200 and all(
                    s.get("breaker") == "closed" for s in (ready.get("departments") or {}).values()),
                      f"/readyz HTTP {ready_status}")]

    async def run_worker_killed(self) -> ClassResult:
        key, title, fault, expected = WORKER_KILLED
        result = ClassResult(key, title, fault, expected)
        c = self.client
        if not c.status.get("worker"):
            result.status = "不适用"
            result.note = "节点以单进程运行（未使用 serve --workers N），本科目不适用"
            return result
        before = {pid for pid in await asyncio.gather(*(c.pid() for _ in range(12))) if pid}
        status, payload = await c.kill_worker()
        if status != 200:
            result.note = f"无法结束工作进程：HTTP {status} {payload}"
            return result
        killed = payload["killed_pid"]
        started = time.monotonic()
        await asyncio.sleep(0.5)  # the worker ends 0.2 s after its answer

        async def serving() -> list[Check]:
            s, p, seconds = await c.verify(PERSON_A)
            checks = [Check("其余工作进程继续答复", s == 200 and p.get("verdict") != "SOURCE_UNAVAILABLE",
                            f"HTTP {s} {p.get('verdict')} {seconds:.2f} s")]
            return checks + (await self._readiness(True))[:1]

        served, result.during = await self._until(self.options.detect_budget, serving)
        result.detect_seconds = None if served is None else round(time.monotonic() - started, 3)

        async def restarted() -> list[Check]:
            pids = {pid for pid in await asyncio.gather(*(c.pid() for _ in range(8))) if pid}
            new = pids - before
            return [Check("被结束的进程不再答复", killed not in pids, f"答复的进程: {sorted(pids)}"),
                    Check("父进程已重启工作进程（出现新进程号）", bool(new), f"新进程: {sorted(new) or '无'}")]

        recovered, result.after = await self._until(self.options.recover_budget, restarted)
        result.recover_seconds = None if recovered is None else round(time.monotonic() - started, 3)
        result.status = "通过" if result.detect_seconds is not None and recovered is not None else "未通过"
        return result

    # ---------------------------------------------------------------- the drill

    async def run(self) -> dict[str, Any]:
        started_at = datetime.now(SHANGHAI)
        try:
            status = await self.client.switches()
            _, ready = await self.client.readyz()
            self.client.departments = sorted((ready.get("departments") or {}).keys())
            results = []
            for fc in CLASSES:
                if not self.options.classes or fc.key in self.options.classes:
                    results.append(await self.run_class(fc))
            if not self.options.classes or WORKER_KILLED[0] in self.options.classes:
                results.append(await self.run_worker_killed())
            await self.client.switches({})
        finally:
            await self.client.close()
        return {
            "title": "应急演练记录（精准查询节点）",
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(SHANGHAI).isoformat(timespec="seconds"),
            "node": self.options.http_url,
            "operator": self.options.operator,
            "node_pid": status.get("pid"),
            "default_deadline_seconds": status.get("default_deadline_seconds"),
            "alerts_file": str(self.options.alerts_file),
            "passed": all(r.passed for r in results),
            "synthetic_persons": [{"name": mask_name(p["name"]), "id_number": mask_id_number(p["id_number"])}
                                  for p in (PERSON_A, PERSON_B, PERSON_C)],
            "classes": [asdict(r) | {"passed": r.passed} for r in results],
        }


# ------------------------------------------------------------------ the report


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(report["started_at"]).strftime("%Y%m%d-%H%M%S")
    json_path = folder / f"应急演练记录-{stamp}.json"
    md_path = folder / f"应急演练记录-{stamp}.md"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return md_path, json_path


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} 秒"


def markdown(report: dict[str, Any]) -> str:
    verdict = "通过" if report["passed"] else "未通过"
    lines = [
        f"# {report['title']}", "",
        "## 一、演练概况", "",
        "| 项目 | 内容 |", "| --- | --- |",
        f"| 演练时间 | {report['started_at']} 至 {report['finished_at']} |",
        f"| 演练对象 | 精准查询节点 {report['node']}（演练模式） |",
        f"| 演练组织人 | {report['operator']} |",
        "| 演练方式 | 节点内故障开关模拟，不访问真实部门 |",
        f"| 节点默认截止时间 | {report['default_deadline_seconds']} 秒 |",
        f"| 总体结论 | **{verdict}** |", "",
        "## 二、演练科目与结果", "",
        "| 科目 | 结果 | 发现用时 | 恢复用时 | 触发的告警 |", "| --- | --- | --- | --- | --- |",
    ]
    for r in report["classes"]:
        alerts = "、".join(sorted(r["alerts_firing"])) or "—"
        lines.append(f"| {r['title']} | {r['status']} | {_seconds(r['detect_seconds'])} | "
                     f"{_seconds(r['recover_seconds'])} | {alerts} |")
    lines += ["", "## 三、各科目情况", ""]
    for n, r in enumerate(report["classes"], 1):
        lines += [f"### {n}. {r['title']}（{r['status']}）", "",
                  f"- 故障注入：{r['fault']}", f"- 预期表现：{r['expected']}",
                  f"- 发现用时：{_seconds(r['detect_seconds'])}；恢复用时：{_seconds(r['recover_seconds'])}"]
        if r["note"]:
            lines.append(f"- 说明：{r['note']}")
        for heading, checks in (("故障期间检查", r["during"]), ("恢复后检查", r["after"])):
            if checks:
                lines += ["", f"{heading}：", "", "| 检查项 | 结果 | 记录 |", "| --- | --- | --- |"]
                lines += [f"| {c['name']} | {'✓' if c['ok'] else '✗'} | {c['detail']} |" for c in checks]
        lines.append("")
    problems = [f"- {r['title']}：" + "；".join(c["name"] for c in r["during"] + r["after"] if not c["ok"])
                + (f"（{r['note']}）" if r["note"] else "")
                for r in report["classes"] if not r["passed"]]
    lines += ["## 四、发现的问题与整改措施", ""]
    lines += problems + ["", "整改措施：按 docs/runbook.md 处理后重新演练。"] if problems else ["未发现问题。"]
    persons = "、".join(f"{p['name']}（{p['id_number']}）" for p in report["synthetic_persons"])
    lines += ["", "## 五、数据说明", "",
              f"演练未使用任何真实个人信息：查询使用合成身份号码（出生于 1880 年，无对应自然人），以脱敏形式记录：{persons}。",
              "告警依据 deploy/prometheus/alerts.yml 中的规则表达式在 /metrics 上计算（区间按演练阶段计，不等待 for 时长）。",
              "", "## 六、签字确认", "",
              "演练负责人：__________　　信息安全负责人：__________　　日期：__________", ""]
    return "\n".join(lines)


async def run_drill(options: DrillOptions) -> tuple[dict[str, Any], Path, Path]:
    report = await Drill(options).run()
    md_path, json_path = write_report(report, options.report_dir)
    return report, md_path, json_path
