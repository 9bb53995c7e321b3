"""The aiohttp application: middlewares, routes, health and the OpenAPI document."""
from __future__ import annotations

import json
import logging

from aiohttp import web

from querynode.api.errors import problem
from querynode.api.http import cases as case_routes
from querynode.api.http import json_api, monitoring
from querynode.api.http.openapi import document
from querynode.api.http.pages import add_pages
from querynode.core.audit import UNAUTHENTICATED_CALLER, Refusal, call_audited, call_scope
from querynode.core.casecheck import CaseChecker
from querynode.core.hub import Hub
from querynode.core.operations import registry
from querynode.domain import errors as e
from querynode.domain.model import RequestContext
from querynode.observability.calls import request_id_for
from querynode.security.accounts import AccountStore
from querynode.security.door import LoginThrottle, client_address, parse_networks, within

log = logging.getLogger("querynode.http")
TRUSTED_PROXIES_KEY = web.AppKey("trusted_proxies", tuple)
LOGIN_THROTTLE_KEY = web.AppKey("login_throttle", LoginThrottle)
HSTS = "max-age=31536000; includeSubDomains"
_CASE_ROUTES = {"/api/v1/cases/check": ("CheckCase", "case"), "/api/v1/cases/result": ("GetCaseResult", "case")}


def _api_operation(path: str) -> tuple[str, str] | None:
    """Operation and department of an API path, for the audit record of a refusal the hub never saw."""
    op = registry().operation_at(path)
    return (op.name, op.department) if op is not None else _CASE_ROUTES.get(path)
_OUTCOME_OF_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                      405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "INVALID_ARGUMENT",
                      429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


@web.middleware
async def door_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Before anything else: the caller's address (X-Forwarded-For and -Proto believed only
    from `security.trusted_proxies`), carried by every audit record of the call; refused
    unauthenticated traffic rate-limited per address; logins throttled per address and
    audited; API refusals the hub never saw (400, 413, 500...) audited; HSTS over HTTPS."""
    proxies = request.app.get(TRUSTED_PROXIES_KEY, ())
    source = client_address(request.remote, request.headers.get("X-Forwarded-For"), proxies)
    https = _forwarded_https(request, proxies)
    if source != request.remote or https:  # handlers see the client (request.secure: Secure cookies)
        request = request.clone(remote=source, scheme="https" if https else request.scheme)
    with call_scope(source):
        if request.path == "/login" and request.method == "POST" and LOGIN_THROTTLE_KEY in request.app:
            response = await _login(request, handler, source)
        elif request.path.startswith("/api/") and _api_operation(request.path) is not None:
            response = await _api_call(request, handler, source)
        else:
            response = await handler(request)
    if request.secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def _forwarded_https(request: web.Request, proxies) -> bool:
    """The client reached a trusted proxy over HTTPS (the proxy says so, and only it is believed)."""
    return (request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"
            and within(request.remote or "", proxies))


async def _api_call(request: web.Request, handler, source: str) -> web.StreamResponse:
    hub = request.app[json_api.HUB_KEY]
    operation, department = _api_operation(request.path)
    if (json_api.AUTH_KEY in request.app and "Authorization" not in request.headers
            and hub.audit.refusals.over_limit(source)):
        response = _problem_response(429, {"type": "about:blank", "title": "Too Many Requests", "status": 429,
                                           "detail": "too many refused requests from this address; try again later"})
    else:
        response = await handler(request)
    if response.status >= 400 and not call_audited():
        outcome = _OUTCOME_OF_STATUS.get(response.status, "INTERNAL" if response.status >= 500 else "REFUSED")
        ctx = RequestContext(case_number="", operator_id="", purpose="",
                             caller=request.get(json_api.CALLER) or UNAUTHENTICATED_CALLER, request_id=request_id_for(""))
        await hub.audit.record_at_door(ctx, operation, department, outcome)
    return response


async def _login(request: web.Request, handler, source: str) -> web.StreamResponse:
    """Failed logins per address: past LOGIN_FAILURES in the window, 429 without checking the
    password. Every attempt is on record (operator = the user name tried)."""
    hub, throttle = request.app[json_api.HUB_KEY], request.app[LOGIN_THROTTLE_KEY]
    try:
        form = await request.post()
    except (web.HTTPException, ValueError):  # too large or not a form: the handler refuses it
        form = {}
    username = str(form.get("username", "")).strip()[:64]
    ctx = RequestContext(case_number="", operator_id=username, purpose="", caller="web-clerk",
                         request_id=request_id_for(""))
    if throttle.blocked(source):  # rate-limited and summarised like unauthenticated refusals
        await hub.audit.record_refusal(ctx, "Login", "pages", Refusal("RESOURCE_EXHAUSTED"))
        return web.Response(status=429, text="登录失败次数过多，请稍后再试。", content_type="text/plain",
                            charset="utf-8")
    response = await handler(request)
    if response.status == 401:
        throttle.failed(source)
    outcome = {303: "LOGIN_OK", 302: "LOGIN_OK", 401: "LOGIN_REFUSED"}.get(response.status)
    if outcome is None:  # the form itself was refused (CSRF): noise, rate-limited and summarised
        await hub.audit.record_refusal(ctx, "Login", "pages", Refusal("INVALID_ARGUMENT"))
    else:
        await hub.audit.record_at_door(ctx, "Login", "pages", outcome)
    return response


@web.middleware
async def problem_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Every error leaves as application/problem+json; nothing escapes as a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = {"type": "about:blank", "title": exc.reason, "status": exc.status, "detail": exc.reason}
        return _problem_response(exc.status, body)
    except e.QueryError as exc:
        status, body = problem(exc, instance=request.path)
        return _problem_response(status, body)
    except Exception as exc:  # noqa: BLE001 - one bad request must not take the node down
        log.exception("unexpected error on %s", request.path)
        status, body = problem(exc, instance=request.path)
        return _problem_response(status, body)


def _problem_response(status: int, body: dict) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/problem+json", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


def create_app(hub: Hub, *, anonymous_caller: str, cases: CaseChecker | None = None,
               accounts: AccountStore | None = None, trusted_proxies=()) -> web.Application:
    """`trusted_proxies`: addresses or networks (security.trusted_proxies) whose
    X-Forwarded-For and X-Forwarded-Proto are believed; from anyone else they are ignored."""
    app = web.Application(middlewares=[monitoring.observe_middleware, door_middleware, problem_middleware],
                          client_max_size=json_api.MAX_BODY_BYTES)
    app[TRUSTED_PROXIES_KEY] = parse_networks(trusted_proxies)
    app[json_api.HUB_KEY] = hub
    app[json_api.CALLER_KEY] = anonymous_caller
    monitoring.add_routes(app)
    app.router.add_get("/api/v1/openapi.json", openapi)
    json_api.add_routes(app)
    if cases is not None:
        case_routes.add_routes(app, cases)
    if accounts is not None:  # the clerk pages need accounts; without them the node serves APIs only
        app[LOGIN_THROTTLE_KEY] = LoginThrottle()
        add_pages(app, accounts)
    return app
