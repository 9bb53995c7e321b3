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
        raise e.InvalidArgument([e.FieldViolation("parties", "must be a list of parties")])
    parsed = []
    for i, party in enumerate(parties):
        if not isinstance(party, dict):
            raise e.InvalidArgument([e.FieldViolation(f"parties[{i}]", "must be an object")])
        for name, value in party.items():
            if name not in _PARTY_FIELDS:
                raise e.InvalidArgument([e.FieldViolation(f"parties[{i}].{name}", "is not a known field")])
            if not isinstance(value, str):
                raise e.InvalidArgument([e.FieldViolation(f"parties[{i}].{name}", "must be a string")])
        if "role" not in party:
            raise e.InvalidArgument([e.FieldViolation(f"parties[{i}].role", "is required")])
        parsed.append(CaseParty(**party))
    fields = {}
    for name in ("registration_type", "judgment_case_number", "place_name", "property_unit", "property_address"):
        value = body.pop(name, "")
        if not isinstance(value, str):
            raise e.InvalidArgument([e.FieldViolation(name, "must be a string")])
        fields[name] = value
    if body:
        raise e.InvalidArgument([e.FieldViolation(next(iter(body)), "is not a known field")])
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
        raise e.InvalidArgument([e.FieldViolation("handle", "is required (a string)")])
    if body:
        raise e.InvalidArgument([e.FieldViolation(next(iter(body)), "is not a known field")])
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
