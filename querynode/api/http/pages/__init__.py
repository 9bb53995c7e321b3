"""The clerk's web pages (server-rendered, Chinese, usable without JavaScript)."""
from __future__ import annotations

from aiohttp import web

from querynode.api.http.cases import CASES_KEY
from querynode.api.http.pages import views
from querynode.api.http.pages.case_check import add_case_pages
from querynode.api.http.pages.render import STATIC
from querynode.api.http.pages.keys import ACCOUNTS_KEY
from querynode.api.http.pages.session import security_headers
from querynode.security.accounts import AccountStore


def add_pages(app: web.Application, accounts: AccountStore) -> None:
    """Mount the pages on `app`; the account store is opened and closed with the app."""
    app[ACCOUNTS_KEY] = accounts

    async def open_accounts(app: web.Application) -> None:
        await accounts.open()

    async def close_accounts(app: web.Application) -> None:
        await accounts.close()

    app.on_startup.append(open_accounts)
    app.on_cleanup.append(close_accounts)
    app.on_response_prepare.append(security_headers)
    r = app.router
    r.add_get("/", views.home)
    r.add_get("/login", views.login_get)
    r.add_post("/login", views.login_post)
    r.add_post("/logout", views.logout)
    r.add_get("/password", views.password_get)
    r.add_post("/password", views.password_post)
    r.add_get("/lookup", views.lookup_index)
    r.add_get("/lookup/{kind}", views.lookup_get)
    r.add_post("/lookup/{kind}", views.lookup_post)
    r.add_get("/history", views.history)
    r.add_get("/status", views.status)
    r.add_static("/static/", STATIC)
    if CASES_KEY in app:
        add_case_pages(app)
