"""Page handlers: login, password change, the lookups, history and node status."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from querynode.api.http.cases import CASES_KEY
from querynode.api.http.json_api import HUB_KEY
from querynode.api.http.pages.keys import ACCOUNTS_KEY, FORM, SESSION_ID
from querynode.api.http.pages import present
from querynode.api.http.pages.lookups import lookups, show
from querynode.api.http.pages.render import render, render_error
from querynode.api.http.pages.session import (
    CSRF_FIELD, LOGIN_CSRF_COOKIE, SESSION_COOKIE, current, delete_cookie, new_login_csrf, page,
    see_other, set_cookie, tokens_equal,
)
from querynode.core.hub import new_request_id
from querynode.core.operations import Department, registry
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.model import SHANGHAI
from querynode.security.accounts import AccountError, Role
from querynode.security.audit_store import AuditRecord

WEB_CALLER = "web-clerk"
HOME = {Role.CLERK: "/cases", Role.AUDITOR: "/history", Role.ADMINISTRATOR: "/status"}
PURPOSES = ("首次登记", "转移登记", "抵押登记", "变更登记", "更正登记", "异议登记", "查封登记", "预告登记",
            "注销登记", "继承（受遗赠）登记")
# The case rpcs are not lookups: no declaration gives their names.
CASE_OPERATION_NAMES = {"CheckCase": "案件核验", "GetCaseResult": "调阅核验记录"}
OUTCOME_NAMES = {"ANSWERED": "已答复", "CACHE_HIT": "缓存", "STALE": "缓存（来源不可用）",
                 "SOURCE_UNAVAILABLE": "来源不可用", "INVALID_ARGUMENT": "输入有误", "PERMISSION_DENIED": "无权限",
                 "AUDIT_UNAVAILABLE": "审计不可用", "DEADLINE_EXCEEDED": "超时", "NOT_FOUND": "无此记录",
                 "RESOURCE_EXHAUSTED": "查询过于频繁", "UNAUTHENTICATED": "未登录"} | {
                     status: text for status, (text, _) in present.CASE_STATUS.items()}


# ------------------------------------------------------------------ login / logout / password

async def login_form(request: web.Request, *, message: str = "", status: int = 200) -> web.Response:
    token = new_login_csrf()
    if not message and request.query.get("expired"):
        message = "会话已超时，请重新登录。"
    response = render(request, "login.html", status=status, csrf=token, message=message)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


async def login_get(request: web.Request) -> web.Response:
    return await login_form(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not tokens_equal(str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return render_error(403, "表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。")
    accounts = request.app[ACCOUNTS_KEY]
    try:
        user = await accounts.authenticate(str(form.get("username", "")).strip(), str(form.get("password", "")),
                                           str(form.get("totp", "")))
    except AccountError as exc:
        return await login_form(request, message=exc.message, status=401)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await accounts.end_session(old)
    session_id, session = await accounts.start_session(user.username)
    response = see_other("/password" if session.must_change_password else HOME[user.role])
    set_cookie(request, response, SESSION_COOKIE, session_id)
    delete_cookie(response, LOGIN_CSRF_COOKIE)
    return response


@page(password_change=True)
async def logout(request: web.Request) -> web.StreamResponse:
    await request.app[ACCOUNTS_KEY].end_session(request[SESSION_ID])
    response = see_other("/login")
    delete_cookie(response, SESSION_COOKIE)
    return response


@page(password_change=True)
async def password_get(request: web.Request) -> web.Response:
    return render(request, "password.html", message="", done=False)


@page(password_change=True)
async def password_post(request: web.Request) -> web.StreamResponse:
    form, session = request[FORM], current(request)
    new = str(form.get("new_password", ""))
    if new != str(form.get("confirm_password", "")):
        return render(request, "password.html", status=400, message="两次输入的新密码不一致。", done=False)
    try:
        await request.app[ACCOUNTS_KEY].set_password(session.username, new,
                                                     current_password=str(form.get("current_password", "")))
    except AccountError as exc:
        return render(request, "password.html", status=400, message=exc.message, done=False)
    return see_other(HOME[session.role])


@page()
async def home(request: web.Request) -> web.StreamResponse:
    return see_other(HOME[current(request).role])


# ------------------------------------------------------------------ lookups

@page(Role.CLERK)
async def lookup_index(request: web.Request) -> web.Response:
    return render(request, "lookup_index.html", lookups=lookups().values())


def _lookup_of(request: web.Request):
    lookup = lookups().get(request.match_info["kind"])
    if lookup is None:
        raise web.HTTPNotFound()
    return lookup


@page(Role.CLERK)
async def lookup_get(request: web.Request) -> web.Response:
    """The form; 受理编号 and 查询事由 come over from the lookup the clerk switched from (neither is
    personal data, so they may travel in the link)."""
    purpose = request.query.get("purpose", "")
    return render(request, "lookup.html", code_fields=present.CODE_FIELDS, lookup=_lookup_of(request),
                  lookups=lookups().values(), purposes=PURPOSES,
                  case_number=request.query.get("case_number", "").strip()[:64],
                  purpose=purpose if purpose in PURPOSES else "", shown=None, errors=[])


@page(Role.CLERK)
async def lookup_post(request: web.Request) -> web.Response:
    """Run one lookup through the hub, like every other door: the clerk is the operator."""
    lookup, form, session = _lookup_of(request), request[FORM], current(request)
    case_number = str(form.get("case_number", "")).strip()
    purpose = str(form.get("purpose", "")).strip()
    fields = present.normalise_form({k: str(v) for k, v in form.items()})
    if "judgment_number" in fields:  # the 案号 field; 受理编号 keeps the name case_number
        fields["case_number"] = fields.pop("judgment_number")
    hub = request.app[HUB_KEY]
    ctx = m.RequestContext(
        case_number=case_number, operator_id=session.username, purpose=purpose, caller=WEB_CALLER,
        request_id=new_request_id(), fresh=form.get("fresh") == "on",
    )
    shown, errors, status = None, [], 200
    try:
        query = lookup.build(fields)
        answer = await hub.execute(ctx, query)
        shown = show(lookup, query, answer)
    except e.InvalidArgument as exc:
        status = 400
        errors = [present.violation_text(v) for v in exc.violations]  # named as the declaration names them
    except e.QueryError as exc:
        status = 503 if isinstance(exc, e.AuditUnavailable) else 403 if isinstance(exc, e.PermissionDenied) else 502
        errors = [present.query_error_text(exc)]
    return render(request, "lookup.html", code_fields=present.CODE_FIELDS, status=status, lookup=lookup,
                  lookups=lookups().values(), purposes=PURPOSES,
                  case_number=case_number, purpose=purpose, shown=shown, errors=errors)


# ------------------------------------------------------------------ history and status

def _start_of_today() -> datetime:
    now = datetime.now(SHANGHAI)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def _records(request: web.Request) -> list[AuditRecord]:
    return await request.app[HUB_KEY].audit.store.records()


def _operation_name(name: str) -> str:
    """The Chinese label of an operation in the audit trail."""
    op = registry().operations.get(name)
    return op.label if op else CASE_OPERATION_NAMES.get(name, "其他操作")


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    operator_id: str
    operation: str
    department: str
    outcome: str
    audit_id: str
    subject: str = "—"  # masked: who was checked (case checks: the parties by role); "—" on older records
    tone: str = ""  # a verdict badge's meaning, for case checks
    reprint: str = ""  # the printable record, for case checks


async def _case_row(request: web.Request, r: AuditRecord) -> HistoryRow:
    """A case check in the history: its masked parties, verdict and a reprint link, from the
    record the node filed (the page shows only the record's own masked texts)."""
    text, tone = present.CASE_STATUS.get(r.outcome, (OUTCOME_NAMES.get(r.outcome, "须人工核验"), "attention"))
    subject = "—"
    cases = request.app.get(CASES_KEY)
    found = await cases.store.by_id(r.audit_id) if cases is not None and len(r.audit_id) == 32 else None
    if found:
        record = json.loads(found[0])
        subject = "、".join(present.party_labels(record.get("parties", [])).values()) or "—"
    return HistoryRow(datetime.fromisoformat(r.at), r.operator_id, CASE_OPERATION_NAMES["CheckCase"], "案件核验",
                      text, r.audit_id, subject, tone, f"/records/{r.audit_id}/print" if found else "")


@page(Role.CLERK, Role.AUDITOR)
async def history(request: web.Request) -> web.Response:
    """Today's queries by case number: a clerk sees their own, an auditor everybody's."""
    session = current(request)
    since = _start_of_today()
    wanted_case = request.query.get("case", "").strip()[:64]  # a case number is not personal data
    cases: dict[str, list[HistoryRow]] = defaultdict(list)
    for r in await _records(request):
        at = datetime.fromisoformat(r.at)
        if at < since or (session.role is Role.CLERK and r.operator_id != session.username):
            continue
        if wanted_case and r.case_number != wanted_case:
            continue
        if r.operation == "CheckCase":
            cases[r.case_number].append(await _case_row(request, r))
            continue
        cases[r.case_number].append(HistoryRow(
            at, r.operator_id, _operation_name(r.operation), present.department_name(r.department),
            OUTCOME_NAMES.get(r.outcome, "须人工核验"), r.audit_id, r.subject or "—"))
    ordered = sorted(cases.items(), key=lambda kv: max(row.at for row in kv[1]), reverse=True)
    return render(request, "history.html", cases=[(case, sorted(rows, key=lambda x: x.at, reverse=True))
                                                  for case, rows in ordered],
                  wanted_case=wanted_case, everybody=session.role is not Role.CLERK)


@dataclass(frozen=True)
class DepartmentStatus:
    name: str
    state: str  # 正常 / 降级 / 不可用 / 暂无数据 / 未配置
    tone: str
    calls: int
    hit_ratio: float
    bars: tuple[tuple[float, float, float, str], ...]  # x, y, height, tone: latency of recent calls
    max_latency_ms: float
    last_failure: datetime | None = None
    recovered_at: datetime | None = None  # the first answered call after the last failure


# The chart: a plot area with a y axis (milliseconds) on the left and an x axis (older -> newer).
CHART_WIDTH, CHART_HEIGHT, RECENT = 480, 140, 30
PLOT_LEFT, PLOT_BOTTOM, PLOT_TOP, MIN_BAR = 56, 118, 8, 4.0
_UPSTREAM_OUTCOMES = {"ANSWERED", "CACHE_HIT", "STALE", "SOURCE_UNAVAILABLE"}
_FAILED = ("STALE", "SOURCE_UNAVAILABLE")


def department_status(dept: Department, configured: bool, records: list[AuditRecord]) -> DepartmentStatus:
    """The state of one department, from its most recent answered calls in the audit trail:
    不可用 when the last five failed, 降级 while the latest call failed, else 正常 (with the time
    of the last failure and of the recovery, when there was one)."""
    name = dept.title
    recent = [r for r in records if r.department == dept.name and r.outcome in _UPSTREAM_OUTCOMES][-RECENT:]
    if not configured:
        return DepartmentStatus(name, "未配置", "info", 0, 0.0, (), 0.0)
    if not recent:
        return DepartmentStatus(name, "暂无数据", "info", 0, 0.0, (), 0.0)
    failed_at = [i for i, r in enumerate(recent) if r.outcome in _FAILED]
    last_failure = datetime.fromisoformat(recent[failed_at[-1]].at) if failed_at else None
    recovered_at = None
    if failed_at and failed_at[-1] + 1 < len(recent):
        recovered_at = datetime.fromisoformat(recent[failed_at[-1] + 1].at)
    if all(r.outcome in _FAILED for r in recent[-5:]):
        state, tone = "不可用", "unavailable"
    elif recent[-1].outcome in _FAILED:
        state, tone = "降级", "attention"
    else:
        state, tone = "正常", "good"
    hits = sum(r.outcome in ("CACHE_HIT", "STALE") for r in recent)
    top = max(r.latency_ms for r in recent) or 1.0
    plot_height = PLOT_BOTTOM - PLOT_TOP
    step = (CHART_WIDTH - PLOT_LEFT - 4) / RECENT
    bars = []
    for i, r in enumerate(recent):
        height = max(MIN_BAR, plot_height * r.latency_ms / top)  # a cache hit stays visible
        bar_tone = "unavailable" if r.outcome in _FAILED else "info" if r.outcome == "CACHE_HIT" else "good"
        bars.append((round(PLOT_LEFT + 2 + i * step, 1), round(PLOT_BOTTOM - height, 1), round(height, 1), bar_tone))
    return DepartmentStatus(name, state, tone, len(recent), hits / len(recent), tuple(bars), round(top, 1),
                            last_failure, recovered_at)


@page()
async def status(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    since = datetime.now(UTC) - timedelta(hours=24)
    records = [r for r in await _records(request) if datetime.fromisoformat(r.at) >= since]
    departments = [department_status(d, d.name in hub.connectors, records) for d in registry().departments.values()]
    step = (CHART_WIDTH - PLOT_LEFT - 4) / RECENT
    return render(request, "status.html", departments=departments, width=CHART_WIDTH, height=CHART_HEIGHT,
                  left=PLOT_LEFT, bottom=PLOT_BOTTOM, top=PLOT_TOP, bar_width=round(step - 2, 1),
                  now=datetime.now(UTC))
