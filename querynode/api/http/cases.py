"""Case checks over the JSON API, and the saved record file (the printable view is a clerk page)."""
from __future__ import annotations

import dataclasses
import json

from aiohttp import web

from querynode.api.http import json_api
from querynode.core.casecheck import CaseChecker
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.case import CaseParty, CaseRequest
from querynode.observability.calls import request_id_for

CASES_KEY = web.AppKey("cases", CaseChecker)
_PARTY_FIELDS = {f.name for f in dataclasses.fields(CaseParty)}


def _case_request(body: dict) -> CaseRequest:
    parties = body.pop("parties", None)
    if not isinstance(parties, list):
        raise e.invalid("parties", "NOT_A_LIST")
    parsed = []
    for i, party in enumerate(parties):
        if not isinstance(party, dict):
            raise e.invalid(f"parties[{i}]", "NOT_AN_OBJECT")
        for name, value in party.items():
            if name not in _PARTY_FIELDS:
                raise e.invalid(f"parties[{i}].{name}", "UNKNOWN_FIELD")
            if not isinstance(value, str):
                raise e.invalid(f"parties[{i}].{name}", "NOT_A_STRING")
        if "role" not in party:
            raise e.invalid(f"parties[{i}].role", "REQUIRED")
        parsed.append(CaseParty(**party))
    fields = {}
    for name in ("registration_type", "judgment_case_number", "place_name", "property_unit", "property_address"):
        value = body.pop(name, "")
        if not isinstance(value, str):
            raise e.invalid(name, "NOT_A_STRING")
        fields[name] = value
    if body:
        raise e.invalid(next(iter(body)), "UNKNOWN_FIELD")
    return CaseRequest(parties=tuple(parsed), **fields)


def _answer(result) -> web.Response:
    payload = {"record": result.record, "digest": result.record_digest, "signature": result.record_signature}
    return web.json_response(payload, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def check_case(request: web.Request) -> web.Response:
    await json_api.authenticate(request, "CheckCase", "case")
    body = await json_api.read_json(request)
    ctx = json_api.request_context(body, request)
    return _answer(await request.app[CASES_KEY].check(ctx, _case_request(body)))


async def case_result(request: web.Request) -> web.Response:
    """GetCaseResult: only the caller system that ran the case gets it (else 404); audited."""
    await json_api.authenticate(request, "GetCaseResult", "case")
    body = await json_api.read_json(request)
    ctx = json_api.request_context(body, request)
    handle = body.pop("handle", "")
    if not isinstance(handle, str) or not handle:
        raise e.invalid("handle", "REQUIRED")
    if body:
        raise e.invalid(next(iter(body)), "UNKNOWN_FIELD")
    return _answer(await request.app[CASES_KEY].result(ctx, handle))


async def record_file(request: web.Request) -> web.Response:
    """The record as the window saves it (record, digest, signature, key id), for the caller
    system that ran the case only (else 404); audited as GetCaseResult."""
    caller = await json_api.authenticate(request, "GetCaseResult", "case")
    ctx = m.RequestContext(case_number="", operator_id="", purpose="", caller=caller, request_id=request_id_for(""))
    record_id = request.match_info["record_id"]
    sealed = await request.app[CASES_KEY].sealed_record(ctx, record_id)
    return web.Response(body=sealed.to_file(), content_type="application/json", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="record-{record_id}.json"'})


def add_routes(app: web.Application, cases: CaseChecker) -> None:
    app[CASES_KEY] = cases
    app.router.add_post("/api/v1/cases/check", check_case)
    app.router.add_post("/api/v1/cases/result", case_result)
    app.router.add_get("/api/v1/records/{record_id}", record_file)
