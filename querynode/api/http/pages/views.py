"""Page handlers: login, password change, the lookups, history and node status."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from querynode.api.http.json_api import HUB_KEY
from querynode.api.http.pages.keys import ACCOUNTS_KEY, FORM, SESSION_ID
from querynode.api.http.pages.lookups import lookups, show
from querynode.api.http.pages.render import SHANGHAI, render, render_error
from querynode.api.http.pages.session import (
    CSRF_FIELD, LOGIN_CSRF_COOKIE, SESSION_COOKIE, current, delete_cookie, new_login_csrf, page,
    see_other, set_cookie, tokens_equal,
)
from querynode.core.hub import new_request_id
from querynode.core.operations import Department, registry
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.security.accounts import AccountError, Role
from querynode.security.audit_store import AuditRecord

WEB_CALLER = "web-clerk"
HOME = {Role.CLERK: "/lookup", Role.AUDITOR: "/history", Role.ADMINISTRATOR: "/status"}
PURPOSES = ("首次登记", "转移登记", "抵押登记", "变更登记", "更正登记", "异议登记", "查封登记", "预告登记",
            "注销登记", "继承（受遗赠）登记")
OUTCOME_NAMES = {"ANSWERED": "已答复", "CACHE_HIT": "缓存", "STALE": "缓存（来源不可用）",
                 "SOURCE_UNAVAILABLE": "来源不可用", "INVALID_ARGUMENT": "输入有误", "PERMISSION_DENIED": "无权限",
                 "AUDIT_UNAVAILABLE": "审计不可用", "DEADLINE_EXCEEDED": "超时"}


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
    return render(request, "lookup_index.html", lookups=lookups().values(),
                  department_names={d.name: d.title for d in registry().departments.values()})


def _lookup_of(request: web.Request):
    lookup = lookups().get(request.match_info["kind"])
    if lookup is None:
        raise web.HTTPNotFound()
    return lookup


@page(Role.CLERK)
async def lookup_get(request: web.Request) -> web.Response:
    return render(request, "lookup.html", lookup=_lookup_of(request), lookups=lookups().values(), purposes=PURPOSES,
                  case_number="", purpose="", shown=None, errors=[])


@page(Role.CLERK)
async def lookup_post(request: web.Request) -> web.Response:
    """Run one lookup through the hub, like every other door: the clerk is the operator."""
    lookup, form, session = _lookup_of(request), request[FORM], current(request)
    case_number = str(form.get("case_number", "")).strip()
    purpose = str(form.get("purpose", "")).strip()
    fields = {k: str(v) for k, v in form.items()}
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
        errors = [f"{lookup.label_of(v.field)}：{v.description}" for v in exc.violations]
    except e.QueryError as exc:
        status = 503 if isinstance(exc, e.AuditUnavailable) else 403 if isinstance(exc, e.PermissionDenied) else 502
        errors = [f"查询未完成（{exc.reason}）。"]
    return render(request, "lookup.html", status=status, lookup=lookup, lookups=lookups().values(), purposes=PURPOSES,
                  case_number=case_number, purpose=purpose, shown=shown, errors=errors)


# ------------------------------------------------------------------ history and status

def _start_of_today() -> datetime:
    now = datetime.now(SHANGHAI)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


async def _records(request: web.Request) -> list[AuditRecord]:
    return await request.app[HUB_KEY].audit.store.records()


def _operation_name(name: str) -> str:
    """The Chinese label of an operation in the audit trail (case rpcs keep their names)."""
    op = registry().operations.get(name)
    return op.label if op else name


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    operator_id: str
    operation: str
    department: str
    outcome: str
    audit_id: str


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
        cases[r.case_number].append(HistoryRow(
            at, r.operator_id, _operation_name(r.operation), registry().title_of(r.department),
            OUTCOME_NAMES.get(r.outcome, r.outcome), r.audit_id))
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


CHART_WIDTH, CHART_HEIGHT, RECENT = 240, 48, 30
_UPSTREAM_OUTCOMES = {"ANSWERED", "CACHE_HIT", "STALE", "SOURCE_UNAVAILABLE"}


def department_status(dept: Department, configured: bool, records: list[AuditRecord]) -> DepartmentStatus:
    """The state of one department, from its most recent answered calls in the audit trail."""
    name = dept.title
    recent = [r for r in records if r.department == dept.name and r.outcome in _UPSTREAM_OUTCOMES][-RECENT:]
    if not configured:
        return DepartmentStatus(name, "未配置", "info", 0, 0.0, (), 0.0)
    if not recent:
        return DepartmentStatus(name, "暂无数据", "info", 0, 0.0, (), 0.0)
    failed = [r for r in recent if r.outcome in ("STALE", "SOURCE_UNAVAILABLE")]
    last_five = recent[-5:]
    if all(r.outcome in ("STALE", "SOURCE_UNAVAILABLE") for r in last_five):
        state, tone = "不可用", "bad"
    elif failed:
        state, tone = "降级", "warn"
    else:
        state, tone = "正常", "ok"
    hits = sum(r.outcome in ("CACHE_HIT", "STALE") for r in recent)
    top = max(r.latency_ms for r in recent) or 1.0
    step = CHART_WIDTH / RECENT
    bars = []
    for i, r in enumerate(recent):
        height = max(1.0, CHART_HEIGHT * r.latency_ms / top)
        bar_tone = "bad" if r.outcome in ("STALE", "SOURCE_UNAVAILABLE") else "info" if r.outcome == "CACHE_HIT" else "ok"
        bars.append((round(i * step, 1), round(CHART_HEIGHT - height, 1), round(height, 1), bar_tone))
    return DepartmentStatus(name, state, tone, len(recent), hits / len(recent), tuple(bars), round(top, 1))


@page()
async def status(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    since = datetime.now(UTC) - timedelta(hours=24)
    records = [r for r in await _records(request) if datetime.fromisoformat(r.at) >= since]
    departments = [department_status(d, d.name in hub.connectors, records) for d in registry().departments.values()]
    return render(request, "status.html", departments=departments, width=CHART_WIDTH, height=CHART_HEIGHT,
                  bar_width=round(CHART_WIDTH / RECENT - 1, 1), now=datetime.now(UTC))
