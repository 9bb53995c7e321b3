"""JSON API: one route per declared operation (core/operations.py), all through `Hub.execute`,
errors as problem+json."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson
from aiohttp import web

from querynode.core.hub import Hub
from querynode.core.operations import Operation, field_type, registry
from querynode.core.validate import TYPE_CODES, query_labels
from querynode.domain import errors as e
from querynode.domain import model as m
from querynode.domain.codec import to_data
from querynode.observability.calls import request_id_for
from querynode.security.authentication import (
    UNAUTHENTICATED_CALLER,
    Authenticator,
    audit_refusal,
)
from querynode.observability.stages import stage
from querynode.security.masking import present

HUB_KEY = web.AppKey("hub", Hub)
CALLER_KEY = web.AppKey("anonymous_caller", str)
# Set by the composition root; without it the API runs every call as the anonymous caller
# (the explicit loopback mode of tests).
AUTH_KEY = web.AppKey("authenticator", Authenticator)
CALLER = web.RequestKey("caller", str)  # the authenticated caller system of one request
MAX_BODY_BYTES = 64 * 1024


_CONTEXT_FIELDS = {"case_number": 64, "operator_id": 64, "purpose": 200, "request_id": 64}


def verdict_of(answer: m.Answer) -> str:
    """The answer's verdict by its operation's rule; SOURCE_UNAVAILABLE without a result."""
    if answer.result is None:
        return "SOURCE_UNAVAILABLE"
    return registry().operation_of_result(answer.result).verdict(answer.result)


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
    with query_labels(query_type):
        return _typed_query(query_type, body)


def _typed_query(query_type: type, body: dict) -> Any:
    known = {f.name: f for f in dataclasses.fields(query_type)}
    kwargs: dict[str, Any] = {}
    for name, value in body.items():
        if name not in known:
            raise _violation(name, "UNKNOWN_FIELD")
        if value is None:
            continue
        expected = field_type(query_type, name)
        if type(value) is not expected:
            raise _violation(name, TYPE_CODES[expected])
        kwargs[name] = value
    required = [f.name for f in known.values() if f.default is dataclasses.MISSING]
    for name in required:
        kwargs.setdefault(name, "")
    return query_type(**kwargs)


def _handler(op: Operation):
    async def handle(request: web.Request) -> web.Response:
        with stage("authentication"):
            await authenticate(request, op.name, op.department)
        with stage("decode"):
            body = await read_json(request)
            ctx = request_context(body, request)
            query = _query(op.query_type, body)
        hub = request.app[HUB_KEY]
        answer = await hub.execute(ctx, query)
        with stage("response"):
            payload = {
                "verdict": verdict_of(answer),  # from the full result; the body shows what the caller may see
                "result": to_data(present(answer.result, hub.authorizer.view_for(ctx.caller))),
                "warnings": list(answer.warnings),
                "provenance": to_data(answer.provenance),
            }
        with stage("encode"):  # orjson: UTF-8 bytes in one step, not a str through json's encoder then encoded
            return web.Response(body=orjson.dumps(payload), content_type="application/json", charset="utf-8",
                                headers={"X-Request-Id": ctx.request_id})

    return handle


def add_routes(app: web.Application) -> None:
    for op in registry().operations.values():
        app.router.add_post(op.http_path, _handler(op))
