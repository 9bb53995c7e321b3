"""Jinja2 templates for the clerk pages (autoescaped), and times shown in Asia/Shanghai."""
from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import jinja2
from aiohttp import web

from querynode.api.http.pages.keys import SESSION
from querynode.domain.fields import param_of
from querynode.domain.model import SHANGHAI, RequestContext
from querynode.security.accounts import ROLE_NAMES_ZH

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"


def beijing(at: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An instant (or its ISO text) as a clerk reads it: Beijing time; "—" for none."""
    if not at:
        return "—"
    return (datetime.fromisoformat(at) if isinstance(at, str) else at).astimezone(SHANGHAI).strftime(fmt)


# The request context's fields as the forms show them (label, maxlength): from its params.
CONTEXT_FIELDS = {f.name: p for f in dataclasses.fields(RequestContext) if (p := param_of(f)) is not None}


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)
_env.filters["shanghai"] = beijing
_env.globals["context_params"] = CONTEXT_FIELDS
_env.globals["role_names"] = ROLE_NAMES_ZH


def render(request: web.Request | None, template: str, *, status: int = 200, **context) -> web.Response:
    session = request.get(SESSION) if request is not None else None
    html = _env.get_template(template).render(session=session, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def render_fragment(template: str, **context) -> str:
    """A partial template as HTML text (the streamed case result uses the page's own partial)."""
    return _env.get_template(template).render(**context)


def render_error(status: int, message: str) -> web.Response:
    return render(None, "error.html", status=status, message=message)
