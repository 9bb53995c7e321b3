"""Shared HTTP plumbing for connectors: one table from aiohttp failures and HTTP status
codes to connector errors, and a bounded body reader."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp

from connectors.base.contract import CallInfo
from connectors.base.errors import (
    BadUpstream,
    RateLimited,
    Rejected,
    Timeout,
    Unavailable,
    UpstreamError,
)


@contextlib.asynccontextmanager
async def map_errors(department: str) -> AsyncIterator[None]:
    """Translate transport failures into connector errors (the httpx `map_exceptions` idea)."""
    try:
        yield
    except UpstreamError:
        raise
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise Timeout(f"{department}: no answer in time") from exc
    except aiohttp.ClientConnectorError as exc:
        raise Unavailable(f"{department}: cannot connect ({exc.os_error.strerror or 'refused'})") from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise Unavailable(f"{department}: connection lost") from exc
    except aiohttp.ClientPayloadError as exc:
        raise BadUpstream(f"{department}: truncated or malformed reply body") from exc
    except aiohttp.ClientResponseError as exc:
        raise BadUpstream(f"{department}: malformed HTTP reply") from exc
    except aiohttp.ClientError as exc:
        raise Unavailable(f"{department}: {type(exc).__name__}") from exc


def check_status(department: str, response: aiohttp.ClientResponse) -> None:
    """Raise the connector error an HTTP status stands for; return on 2xx."""
    status = response.status
    if 200 <= status < 300:
        return
    if status == 429:
        raise RateLimited(f"{department}: rate limited (429)", _retry_after(response))
    if status in (502, 503, 504) or status >= 500:
        raise Unavailable(f"{department}: HTTP {status}")
    raise Rejected(f"{department}: request refused (HTTP {status})")


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def read_body(department: str, response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read a reply body of at most `limit` bytes; a larger one is BadUpstream."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise BadUpstream(f"{department}: reply of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BadUpstream(f"{department}: reply exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def client_timeout(call: CallInfo) -> aiohttp.ClientTimeout:
    """The aiohttp timeout for what is left of the call's budget."""
    return aiohttp.ClientTimeout(total=max(call.timeout, 0.001))
