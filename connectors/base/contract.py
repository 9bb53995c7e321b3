"""The connector contract: one connector per department, one async lookup per query kind."""
from __future__ import annotations

import abc
import ssl
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp


@dataclass(frozen=True)
class ConnectorConfig:
    """How to reach one department. Secrets arrive here already read from env or file."""

    base_url: str
    app_id: str = "querynode"
    secret: str = ""
    ca_file: str | None = None
    # Upper bound on a reply body; larger replies are BadUpstream, never loaded whole.
    max_reply_bytes: int = 2 * 1024 * 1024
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallInfo:
    """What a connector may pass to the department about this call."""

    request_id: str
    case_number: str
    operator_id: str
    # Seconds this call may still take (the hub subtracts what retries already used).
    timeout: float
    # The 查询请求单号 the relay head must carry, when the business payload already cites it (最高法
    # GF01 copies it into every <data>); empty: the relay numbers the request itself.
    request_number: str = ""


class Connector(abc.ABC):
    """Base of every department connector.

    Subclasses set `department` and implement `lookup`, mapping the department's wire
    format to domain results and raising `connectors.base.errors` on failure.
    """

    department: ClassVar[str]  # the registered department name

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_context: ssl.SSLContext | bool = True
            if self.config.ca_file:
                ssl_context = ssl.create_default_context(cafile=self.config.ca_file)
            self._session = aiohttp.ClientSession(
                base_url=self.config.base_url,
                connector=aiohttp.TCPConnector(ssl=ssl_context, limit=100),
                raise_for_status=False,
            )
        return self._session

    @abc.abstractmethod
    async def lookup(self, query: Any, call: CallInfo) -> Any:
        """Ask the department; return a domain result or raise an UpstreamError."""

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
