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
from querynode.core.casecheck import CaseChecker
from querynode.core.hub import Hub
from querynode.domain import errors as e
from querynode.security.accounts import AccountStore

log = logging.getLogger("querynode.http")


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
               accounts: AccountStore | None = None) -> web.Application:
    app = web.Application(middlewares=[monitoring.observe_middleware, problem_middleware],
                          client_max_size=json_api.MAX_BODY_BYTES)
    app[json_api.HUB_KEY] = hub
    app[json_api.CALLER_KEY] = anonymous_caller
    monitoring.add_routes(app)
    app.router.add_get("/api/v1/openapi.json", openapi)
    json_api.add_routes(app)
    if cases is not None:
        case_routes.add_routes(app, cases)
    if accounts is not None:  # the clerk pages need accounts; without them the node serves APIs only
        add_pages(app, accounts)
    return app
