"""Web security for the clerk pages: security headers, server-side sessions, CSRF, roles.

The browser holds only a random session id (HttpOnly, SameSite=Strict, Secure over TLS);
everything else lives in the account store. Every POST carries the session's CSRF token.
The login form, which has no session yet, uses a double-submit token (cookie + field).
"""
from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from querynode.api.http.pages.keys import ACCOUNTS_KEY, FORM, SESSION, SESSION_ID
from querynode.api.http.pages.render import render_error
from querynode.security.accounts import Role, Session

SESSION_COOKIE = "qn_session"
LOGIN_CSRF_COOKIE = "qn_login_csrf"
CSRF_FIELD = "csrf_token"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
    "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
))


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, page or not, carries the same strict headers."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")  # pages hold personal data, even masked
    if request.secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=request.secure, path="/")


def delete_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def see_other(location: str) -> web.Response:
    """Redirect after POST (and to the login page): 303, so the browser follows with GET."""
    return web.Response(status=303, headers={"Location": location})


def tokens_equal(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(*roles: Role, password_change: bool = False) -> Callable[[Handler], Handler]:
    """Guard a page: a live session (else to the login page), one of `roles`, a valid CSRF
    token on POST, and a forced password change once the password has expired. The session
    is at request[SESSION], the parsed form at request[FORM]."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session_id = request.cookies.get(SESSION_COOKIE, "")
            session = await request.app[ACCOUNTS_KEY].session(session_id)
            if session is None:
                target = "/login?expired=1" if session_id else "/login"
                response = see_other(target)
                if session_id:
                    delete_cookie(response, SESSION_COOKIE)
                return response
            if session.must_change_password and not password_change:
                return see_other("/password")
            if roles and session.role not in roles:
                return forbidden("您的角色无权使用此页面。")
            if request.method == "POST":
                form = await request.post()
                if not tokens_equal(str(form.get(CSRF_FIELD, "")), session.csrf_token):
                    return forbidden("表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。")
                request[FORM] = form
            request[SESSION] = session
            request[SESSION_ID] = session_id
            return await handler(request)

        return guarded

    return wrap


def forbidden(message: str) -> web.Response:
    return render_error(403, message)


def current(request: web.Request) -> Session:
    return request[SESSION]
