"""The case check page: one form for a whole registration case, the checks and findings as
they are in the verification record, the printable record (A4, masked) and the page that
checks a printed record's id and digest."""
from __future__ import annotations

import json
import re

import segno
from aiohttp import web

from querynode.api.http.cases import CASES_KEY
from querynode.api.http.pages import present
from querynode.api.http.pages.keys import ACCOUNTS_KEY, FORM
from querynode.api.http.pages.lookups import lookups
from querynode.api.http.pages.render import beijing, render, render_error, render_fragment
from querynode.api.http.pages.session import current, page
from querynode.api.http.pages.views import PURPOSES, WEB_CALLER
from querynode.core.casecheck import MAX_PARTIES, Readers
from querynode.core.hub import new_request_id
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest
from querynode.security.accounts import Role
from querynode.security.records import verify_file

PARTY_ROWS = 4  # rows shown at first; the clerk adds more (up to MAX_PARTIES)
PARTY_FIELDS = ("role", "name", "id_number", "organization_name", "credit_code", "license_code")
_ROW_KEY = re.compile(r"^p(\d+)_role$")


def _roles(plans, registration_type: str) -> list[tuple[str, str]]:
    """The roles of one registration type, from its plan (never merged across types)."""
    plan = plans.types.get(registration_type) or next(iter(plans.types.values()))
    return [(key, role.label) for key, role in plan.roles.items()]


def _form_context(request: web.Request, **extra) -> dict:
    plans = request.app[CASES_KEY].plans
    fields = extra.pop("fields", {})
    selected = fields.get("registration_type") or request.query.get("type", "")
    if selected not in plans.types:
        selected = next(iter(plans.types))
    roles = _roles(plans, selected)
    rows = max(PARTY_ROWS, extra.pop("row_count", 0))
    keys = [key for key, _ in roles]  # row 1 the first role, later rows the second (co-buyers, heirs)
    return {"types": plans.types, "selected_type": selected, "roles": roles,
            "default_roles": [keys[min(i, 1, len(keys) - 1)] for i in range(rows)], "row_count": rows,
            "role_data": {t: json.dumps(_roles(plans, t), ensure_ascii=False) for t in plans.types},
            "case_data": {t: " ".join(plan.case) for t, plan in plans.types.items()},
            "purposes": PURPOSES, "lookups": lookups().values(), "fields": fields, "errors": [], "view": None, **extra}


@page(Role.CLERK)
async def case_get(request: web.Request) -> web.Response:
    return render(request, "case.html", **_form_context(request))


def _case_from_form(request: web.Request) -> tuple[m.RequestContext, CaseRequest, dict, list[int], int]:
    """The case from the form; for each party the number of its row as the clerk sees it
    (empty rows are skipped, so parties[1] may be row 3); and how many rows the form had."""
    form, session = request[FORM], current(request)
    fields = present.normalise_form({k: str(v) for k, v in form.items() if k != "csrf_token"})
    rows = sorted(int(match.group(1)) for k in fields if (match := _ROW_KEY.match(k)))[:MAX_PARTIES + 1]
    parties, party_rows = [], []
    for shown, i in enumerate(rows, start=1):
        row = {f: fields.get(f"p{i}_{f}", "") for f in PARTY_FIELDS}
        if any(v for k, v in row.items() if k != "role"):
            parties.append(CaseParty(**row))
            party_rows.append(shown)
    ctx = m.RequestContext(
        case_number=fields.get("case_number", ""), operator_id=session.username, purpose=fields.get("purpose", ""),
        caller=WEB_CALLER, request_id=new_request_id(), fresh=fields.get("fresh") == "on")
    case = CaseRequest(registration_type=fields.get("registration_type", ""), parties=tuple(parties),
                       judgment_case_number=fields.get("judgment_case_number", ""),
                       place_name=fields.get("place_name", ""))
    kept = {k: fields.get(k, "") for k in ("case_number", "purpose", "registration_type", "fresh")}  # no personal data
    return ctx, case, kept, party_rows, len(rows)


def _errors(exc: e.InvalidArgument, party_rows: list[int]) -> list[str]:
    return [present.violation_text(v, party_rows=party_rows) for v in exc.violations]


@page(Role.CLERK)
async def case_post(request: web.Request) -> web.Response:
    """Run the case check through the hub (every check audited, the clerk as operator); the
    page shows the record, whose personal data is already masked. Without JavaScript the whole
    page comes when every check is done."""
    ctx, case, kept, party_rows, rows = _case_from_form(request)
    try:
        result = await request.app[CASES_KEY].check(ctx, case)
    except e.InvalidArgument as exc:
        return render(request, "case.html", status=400,
                      **_form_context(request, errors=_errors(exc, party_rows), fields=kept, row_count=rows))
    return render(request, "case.html",
                  **_form_context(request, view=present.record_view(result.record), fields=kept, row_count=rows))


@page(Role.CLERK)
async def case_stream(request: web.Request) -> web.StreamResponse:
    """The same check as server-sent events, for app.js: `check` as each completes, then
    `summary` with the result section as the no-JavaScript page renders it (or `invalid`).
    Every text in them is already masked."""
    ctx, case, _, party_rows, _ = _case_from_form(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)

    async def send(event: str, data: dict) -> None:
        await response.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

    plans = request.app[CASES_KEY].plans
    plan = plans.types.get(case.registration_type)
    parties = [{"index": i, "role": p.role, "role_label": plan.roles[p.role].label if plan and p.role in plan.roles else "",
                "name": present.mask_name(p.name) if p.is_person else "", "organization_name": p.organization_name,
                "credit_code": p.credit_code} for i, p in enumerate(case.parties)]
    try:
        async for item in request.app[CASES_KEY].stream(ctx, case):
            if isinstance(item, dict):
                await send("check", present.progress_item(item, parties))
            else:
                view = present.record_view(item.record)
                await send("summary", {"status": view.status, "tone": view.tone, "record_id": view.record_id,
                                       "html": render_fragment("_case_result.html", view=view)})
    except e.InvalidArgument as exc:
        await send("invalid", {"errors": _errors(exc, party_rows)})
    await response.write_eof()
    return response


def qr_svg(record_id: str, digest: str) -> tuple[str, str]:
    """The QR code printed on the record: its id and digest, so a scanned paper can be checked
    offline against the node's record file (segno; an inline SVG with no style attribute)."""
    content = f"querynode-record:{record_id}:{digest}"
    qr = segno.make(content, error="m", micro=False)
    svg = qr.svg_inline(scale=2, border=2, dark="#000", light="#fff", omitsize=True, svgclass="qr")
    return svg.replace("<svg ", f'<svg role="img" aria-label="核验记录二维码" data-content="{content}" ', 1), content


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
    view = present.record_view(json.loads(sealed.body))
    operator = await request.app[ACCOUNTS_KEY].display_name(view.operator_id) or view.operator_id
    qr, _ = qr_svg(view.record_id, sealed.digest)
    return render(None, "record_print.html", view=view, operator=operator, digest=sealed.digest,
                  signature=sealed.signature, key_id=sealed.key_id, qr=qr)


@page(Role.CLERK, Role.AUDITOR)
async def record_verify_get(request: web.Request) -> web.Response:
    return render(request, "record_verify.html", record_id="", digest="", outcome=None)


@page(Role.CLERK, Role.AUDITOR)
async def record_verify_post(request: web.Request) -> web.Response:
    """A printed record's id and digest, pasted or scanned: is it the record this node filed,
    unchanged and signed by this node? Shows only the case number and time, no personal data;
    the read is audited like any other (GetCaseResult)."""
    form, session = request[FORM], current(request)
    record_id = present.normalise_code(str(form.get("record_id", ""))).lower()[:64]
    digest = str(form.get("digest", "")).strip().lower()[:200]
    scanned = re.fullmatch(r"querynode-record:([0-9a-f]{32}):(\S+)", record_id)
    if scanned:  # the QR code's text pasted whole
        record_id, digest = scanned.group(1), scanned.group(2)
    ctx = m.RequestContext(case_number="", operator_id=session.username, purpose="", caller=WEB_CALLER,
                           request_id=new_request_id())
    cases = request.app[CASES_KEY]
    outcome: dict = {"ok": False, "tone": "blocked", "text": "没有这条核验记录：请核对记录编号。"}
    try:
        sealed = await cases.sealed_record(ctx, record_id, Readers.ANYONE)
    except e.NotFound:
        sealed = None
    if sealed is not None:
        intact, _ = verify_file(sealed.to_file(), cases.signer.public_key)
        record = json.loads(sealed.body)
        about = {"case_number": record["case"]["case_number"], "at": beijing(record["created_at"], "%Y-%m-%d %H:%M")}
        if not intact:
            outcome = {"ok": False, "tone": "blocked", "text": "本节点保存的记录签名无效，请立即报告系统管理员。", **about}
        elif digest != sealed.digest:
            outcome = {"ok": False, "tone": "blocked", "text": "摘要不一致：打印件与本节点保存的记录不符，请勿采信。", **about}
        else:
            outcome = {"ok": True, "tone": "good", "text": "记录有效：摘要一致，签名由本节点签发。", **about}
    return render(request, "record_verify.html", record_id=record_id, digest=digest, outcome=outcome)


def add_case_pages(app: web.Application) -> None:
    app.router.add_get("/cases", case_get)
    app.router.add_post("/cases", case_post)
    app.router.add_post("/cases/stream", case_stream)
    app.router.add_get("/records/verify", record_verify_get)
    app.router.add_post("/records/verify", record_verify_post)
    app.router.add_get("/records/{record_id}/print", record_print)
