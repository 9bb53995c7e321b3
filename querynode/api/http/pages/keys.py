"""Typed keys the pages keep on the application and on each request."""
from __future__ import annotations

from aiohttp import web

from querynode.security.accounts import AccountStore, Session

ACCOUNTS_KEY = web.AppKey("accounts", AccountStore)
SESSION = web.RequestKey("session", Session)  # the live session of a page request
SESSION_ID = web.RequestKey("session_id", str)  # its cookie value (to end it at logout)
FORM = web.RequestKey("form", object)  # the parsed POST form, CSRF already checked
