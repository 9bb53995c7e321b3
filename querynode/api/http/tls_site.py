"""The HTTP door's TLS listener.

aiohttp's TCPSite hands the handshake to asyncio, which drops a failed one without a word: an
`ssl.SSLError` is an `OSError`, and asyncio logs those only in debug mode, so a probe with a bad
certificate, a plain-HTTP request to the TLS port or a client that never finishes its handshake
leaves no trace. This site accepts plain TCP and upgrades each connection itself with the public
`loop.start_tls`, so every failed or abandoned handshake is logged with the peer address and counted
in querynode_tls_handshake_failures_total{door="http", reason}. (The gRPC door's handshakes happen
inside grpcio's C core, which offers no such hook; see docs/runbook.md.)
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiohttp import web

from querynode.observability import metrics

log = logging.getLogger("querynode.tls")
HANDSHAKE_TIMEOUT_SECONDS = 10.0


def failure_reason(exc: BaseException) -> str:
    """A small, fixed vocabulary for the metric label (the error text goes to the log). A client that
    rejects the node's certificate mostly just hangs up: the node sees a reset, not the reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate"
    if isinstance(exc, ssl.SSLError):
        return "certificate" if "certificate" in str(exc).lower() or "unknown ca" in str(exc).lower() else "protocol"
    if isinstance(exc, TimeoutError | ConnectionAbortedError):
        return "timeout"
    return "reset"


class _Upgrade(asyncio.Protocol):
    """The protocol a new TCP connection starts with: it upgrades to TLS, then hands the TLS
    transport to the web server's own protocol."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], context: ssl.SSLContext, timeout: float) -> None:
        self.factory, self.context, self.timeout = factory, context, timeout
        self.upgrade: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # the ClientHello waits in the socket for start_tls
        self.upgrade = asyncio.get_running_loop().create_task(self._upgrade(transport))

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        inner = self.factory()
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, inner, self.context, server_side=True, ssl_handshake_timeout=self.timeout)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError and ConnectionError are OSErrors
            reason = failure_reason(exc)
            metrics.TLS_HANDSHAKE_FAILURES.labels("http", reason).inc()
            address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unknown"
            log.warning("TLS handshake failed", extra={"peer": address, "reason": reason,
                                                        "error": f"{type(exc).__name__}: {exc}"[:200]})
            transport.abort()
            return
        if tls is not None:
            inner.connection_made(tls)

    def connection_lost(self, exc: Exception | None) -> None:  # only before start_tls took over
        if self.upgrade is not None:
            self.upgrade.cancel()


class TlsSite(web.TCPSite):
    """web.TCPSite whose TLS handshakes are logged and counted (the module docstring says why)."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int, *, ssl_context: ssl.SSLContext,
                 reuse_port: bool | None = None, handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_port=reuse_port)
        self.handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None and self._ssl_context is not None
        context, timeout = self._ssl_context, self.handshake_timeout
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Upgrade(server, context, timeout), self._host, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


def http_site(runner: web.BaseRunner, host: str | None, port: int, ssl_context: ssl.SSLContext | None,
              reuse_port: bool | None = None) -> web.TCPSite:
    """The HTTP door's listener: TlsSite with a TLS context, plain web.TCPSite without one."""
    if ssl_context is None:
        return web.TCPSite(runner, host, port, reuse_port=reuse_port)
    return TlsSite(runner, host, port, ssl_context=ssl_context, reuse_port=reuse_port)
