"""JSON API: one route per lookup, all through `Hub.execute`, errors as problem+json."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from querynode.core.hub import Hub
from querynode.core.operations import OPERATIONS
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.codec import to_data
from querynode.observability.calls import request_id_for
from querynode.security.authentication import (
    UNAUTHENTICATED_CALLER,
    Authenticator,
    audit_refusal,
)
from querynode.security.masking import present

HUB_KEY = web.AppKey("hub", Hub)
CALLER_KEY = web.AppKey("anonymous_caller", str)
# Set by the composition root; without it the API runs every call as the anonymous caller
# (the explicit loopback mode of tests).
AUTH_KEY = web.AppKey("authenticator", Authenticator)
CALLER = web.RequestKey("caller", str)  # the authenticated caller system of one request
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Route:
    path: str
    operation: str
    query_type: type
    summary: str


ROUTES = (
    Route("/api/v1/identity/verify", "VerifyIdentity", m.IdentityQuery, "Verify name + resident ID number (公安部)"),
    Route("/api/v1/organizations/lookup", "LookupOrganization", m.OrganizationQuery, "Organisation by credit code or name"),
    Route("/api/v1/licenses/query", "QueryFinancialLicense", m.LicenseQuery, "Financial licence by code or name"),
    Route("/api/v1/judgments/query", "QueryJudgments", m.JudgmentQuery, "Judgments by case number or party"),
    Route("/api/v1/marriage/query", "QueryMarriage", m.MarriageQuery, "Marriage registration and status"),
    Route("/api/v1/place-names/query", "QueryPlaceNames", m.PlaceNameQuery, "Standard place names"),
    Route("/api/v1/death/query", "QueryDeath", m.DeathQuery, "Death medical certificate"),
)
_CONTEXT_FIELDS = {"case_number": 64, "operator_id": 64, "purpose": 200, "request_id": 64}


def verdict_of(answer: m.Answer) -> str:
    r = answer.result
    if r is None:
        return "SOURCE_UNAVAILABLE"
    if isinstance(r, m.IdentityResult):
        return r.verdict.value
    if isinstance(r, m.JudgmentResult) and r.pending:
        return "PENDING"
    found = {
        m.OrganizationResult: lambda: bool(r.organizations), m.LicenseResult: lambda: bool(r.licenses),
        m.JudgmentResult: lambda: bool(r.judgments), m.MarriageResult: lambda: bool(r.records),
        m.PlaceNameResult: lambda: bool(r.places), m.DeathResult: lambda: r.record is not None,
    }[type(r)]()
    return "FOUND" if found else "NOT_FOUND"


def _violation(field: str, code: str) -> e.InvalidArgument:
    return e.invalid(field, code)


async def read_json(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise _violation("body", "BODY_CONTENT_TYPE")
    raw = await request.read()  # larger than MAX_BODY_BYTES: 413, rendered as problem+json
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _violation("body", "BODY_NOT_JSON") from None
    except RecursionError:  # nested deeper than the parser's stack allows: the caller's fault, not a 500
        raise _violation("body", "BODY_TOO_DEEP") from None
    if not isinstance(body, dict):
        raise _violation("body", "BODY_NOT_OBJECT")
    return body


def request_context(body: dict, request: web.Request) -> m.RequestContext:
    """Pop and check the `context` object of a JSON request body."""
    caller = request.get(CALLER) or _caller(request)
    raw = body.pop("context", None)
    if not isinstance(raw, dict):
        raise _violation("context", "CONTEXT_REQUIRED")
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "fresh":
            if not isinstance(value, bool):
                raise _violation("context.fresh", "NOT_A_BOOLEAN")
            fields["fresh"] = value
        elif name in _CONTEXT_FIELDS:
            if not isinstance(value, str):
                raise _violation(f"context.{name}", "NOT_A_STRING")
            fields[name] = value
        else:
            raise _violation(f"context.{name}", "UNKNOWN_FIELD")
    request_id = request_id_for(fields.pop("request_id", ""))
    return m.RequestContext(
        case_number=fields.get("case_number", ""), operator_id=fields.get("operator_id", ""),
        purpose=fields.get("purpose", ""), caller=caller, request_id=request_id, fresh=fields.get("fresh", False),
    )


def _caller(request: web.Request) -> str:
    """The authenticated caller system of a request (raises Unauthenticated)."""
    authenticator = request.app.get(AUTH_KEY)
    if authenticator is None:
        return request.app[CALLER_KEY]
    return authenticator.http_caller(request.headers)


async def authenticate(request: web.Request, operation: str, department: str) -> str:
    """Name the caller before anything else; a refusal is audited (caller unknown)."""
    if not request.get(CALLER):
        try:
            request[CALLER] = _caller(request)
        except e.Unauthenticated as exc:
            ctx = m.RequestContext(case_number="", operator_id="", purpose="", caller=UNAUTHENTICATED_CALLER,
                                   request_id=request_id_for(""))
            await audit_refusal(request.app[HUB_KEY].audit, ctx, operation, department, exc)
            raise
    return request[CALLER]


def _query(query_type: type, body: dict) -> Any:
    known = {f.name: f for f in dataclasses.fields(query_type)}
    kwargs: dict[str, Any] = {}
    for name, value in body.items():
        if name not in known:
            raise _violation(name, "UNKNOWN_FIELD")
        if value is None:
            continue
        expected = {"prefix": bool, "limit": int}.get(name, str)
        if type(value) is not expected:
            raise _violation(name, {bool: "NOT_A_BOOLEAN", int: "NOT_AN_INTEGER"}.get(expected, "NOT_A_STRING"))
        kwargs[name] = value
    required = [f.name for f in known.values() if f.default is dataclasses.MISSING]
    for name in required:
        kwargs.setdefault(name, "")
    return query_type(**kwargs)


def _handler(route: Route):
    async def handle(request: web.Request) -> web.Response:
        await authenticate(request, route.operation, OPERATIONS[route.query_type].department.value)
        body = await read_json(request)
        ctx = request_context(body, request)
        query = _query(route.query_type, body)
        hub = request.app[HUB_KEY]
        answer = await hub.execute(ctx, query)
        payload = {
            "verdict": verdict_of(answer),  # from the full result; the body shows what the caller may see
            "result": to_data(present(answer.result, hub.authorizer.view_for(ctx.caller))),
            "warnings": list(answer.warnings),
            "provenance": to_data(answer.provenance),
        }
        return web.json_response(payload, dumps=lambda o: json.dumps(o, ensure_ascii=False),
                                 headers={"X-Request-Id": ctx.request_id})

    return handle


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_post(route.path, _handler(route))
