"""The case check page: one form for a whole registration case, the checks and findings as
they are in the verification record, and the printable record (A4, masked)."""
from __future__ import annotations

import json

from aiohttp import web

from querynode.api.http.cases import CASES_KEY
from querynode.api.http.pages.keys import FORM
from querynode.api.http.pages.render import render, render_error
from querynode.api.http.pages.session import current, page
from querynode.api.http.pages.views import WEB_CALLER
from querynode.core.casecheck import Readers
from querynode.core.hub import new_request_id
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest
from querynode.security.accounts import Role

PARTY_ROWS = 4
PARTY_FIELDS = ("role", "name", "id_number", "organization_name", "credit_code", "license_code")
STATUS_TEXT = {"CLEAR": ("核验通过", "good"), "NEEDS_ATTENTION": ("需关注", "warn"), "INCOMPLETE": ("核验不完整", "bad")}
CHECK_TEXT = {"OK": ("一致", "good"), "ATTENTION": ("需关注", "warn"), "UNAVAILABLE": ("来源不可用", "bad"),
              "PENDING": ("等待法院答复", "warn")}


def _form_context(request: web.Request, **extra) -> dict:
    plans = request.app[CASES_KEY].plans
    roles = {role: plan.label for t in plans.types.values() for role, plan in t.roles.items()}
    return {"types": plans.types, "roles": roles, "rows": range(PARTY_ROWS), "fields": {}, "errors": [],
            "record": None, "status_text": STATUS_TEXT, "check_text": CHECK_TEXT, **extra}


@page(Role.CLERK)
async def case_get(request: web.Request) -> web.Response:
    return render(request, "case.html", **_form_context(request))


def _case_from_form(request: web.Request) -> tuple[m.RequestContext, CaseRequest, dict]:
    form, session = request[FORM], current(request)
    fields = {k: str(v).strip() for k, v in form.items() if k != "csrf_token"}
    parties = []
    for i in range(PARTY_ROWS):
        row = {f: fields.get(f"p{i}_{f}", "") for f in PARTY_FIELDS}
        if any(v for k, v in row.items() if k != "role"):
            parties.append(CaseParty(**row))
    ctx = m.RequestContext(
        case_number=fields.get("case_number", ""), operator_id=session.username, purpose=fields.get("purpose", ""),
        caller=WEB_CALLER, request_id=new_request_id())
    case = CaseRequest(registration_type=fields.get("registration_type", ""), parties=tuple(parties),
                       judgment_case_number=fields.get("judgment_case_number", ""),
                       place_name=fields.get("place_name", ""))
    kept = {k: fields.get(k, "") for k in ("case_number", "purpose", "registration_type")}  # no personal data
    return ctx, case, kept


def _errors(exc: e.InvalidArgument) -> list[str]:
    return [v.message for v in exc.violations]


@page(Role.CLERK)
async def case_post(request: web.Request) -> web.Response:
    """Run the case check through the hub (every check audited, the clerk as operator); the
    page shows the record, whose personal data is already masked. Without JavaScript the whole
    page comes when every check is done."""
    ctx, case, kept = _case_from_form(request)
    try:
        result = await request.app[CASES_KEY].check(ctx, case)
    except e.InvalidArgument as exc:
        return render(request, "case.html", status=400, **_form_context(request, errors=_errors(exc), fields=kept))
    return render(request, "case.html", **_form_context(request, record=result.record))


@page(Role.CLERK)
async def case_stream(request: web.Request) -> web.StreamResponse:
    """The same check as server-sent events, for app.js: `check` as each completes, then
    `summary` (or `invalid`). Every text in them is already masked."""
    ctx, case, _ = _case_from_form(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)

    async def send(event: str, data: dict) -> None:
        await response.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

    try:
        async for item in request.app[CASES_KEY].stream(ctx, case):
            if isinstance(item, dict):
                text, tone = CHECK_TEXT[item["status"]]
                await send("check", {"check_id": item["check_id"], "summary": item["summary"], "badge": text,
                                     "tone": tone})
            else:
                record = item.record
                text, tone = STATUS_TEXT[record["status"]]
                await send("summary", {"status": text, "tone": tone, "record_id": record["record_id"],
                                       "findings": [f["message"] for f in record["findings"]],
                                       "by_hand": record["by_hand"]})
    except e.InvalidArgument as exc:
        await send("invalid", {"errors": _errors(exc)})
    await response.write_eof()
    return response


@page(Role.CLERK, Role.AUDITOR)
async def record_print(request: web.Request) -> web.Response:
    """Printable A4 verification record (Chinese, masked) to attach to the case file: a clerk's
    own cases only, any case for an auditor; every read is audited (GetCaseResult)."""
    session = current(request)
    ctx = m.RequestContext(case_number="", operator_id=session.username, purpose="", caller=WEB_CALLER,
                           request_id=new_request_id())
    readers = Readers.ANYONE if session.role is Role.AUDITOR else Readers.OPERATOR
    try:
        sealed = await request.app[CASES_KEY].sealed_record(ctx, request.match_info["record_id"], readers)
    except e.NotFound:
        return render_error(404, "没有这条核验记录。")
    return render(None, "record_print.html", record=json.loads(sealed.body), digest=sealed.digest,
                  signature=sealed.signature, key_id=sealed.key_id)


def add_case_pages(app: web.Application) -> None:
    app.router.add_get("/cases", case_get)
    app.router.add_post("/cases", case_post)
    app.router.add_post("/cases/stream", case_stream)
    app.router.add_get("/records/{record_id}/print", record_print)

