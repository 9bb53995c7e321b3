"""The relay contract: how a centre's request reaches a ministry service.

A connector builds the business payload its service expects (公安 `Conditions[]`, 民政 `{cert_num,name}`,
最高法 XML ...). A relay carries it: egress wraps payload and service code into the relay's HTTP
request (envelope, signature, encryption); ingress unwraps the reply into the business payload or
raises a typed error. Relay faults (permission, rate limit, token, signature, broken envelope) are
decided here and never reach a connector as data (`../shared/INTERFACES.md` §0.1, DESIGN.md).
"""
from __future__ import annotations

import abc
import json
import logging
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import aiohttp

from connectors.base.contract import CallInfo
from connectors.base.errors import (
    BadUpstream,
    PermissionDenied,
    RateLimited,
    Timeout,
    Unavailable,
)
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import json_object

# Permission faults are logged here (relay and service only) and counted by the hub as
# querynode_upstream_calls_total{outcome="permission_denied"}, which alerts.yml alerts on.
log = logging.getLogger("connectors.relay")


class Service(StrEnum):
    """Ministry services registration uses, named apart from any relay's code for them."""

    IDENTITY_CHECK = "identity_check"  # 公安部 身份核查
    POPULATION_BASEINFO = "population_baseinfo"  # 公安部 人口库 基准信息
    MARRIAGE_QUERY = "marriage_query"  # 民政部 婚姻登记信息
    SOCIAL_ORG_QUERY = "social_org_query"  # 民政部 社会组织
    PLACE_NAME_QUERY = "place_name_query"  # 民政部 地名
    CREMATION_QUERY = "cremation_query"  # 民政部 殡葬 火化
    FINANCIAL_LICENSE_QUERY = "financial_license_query"  # 银保监会 金融许可证
    ORGAN_QUERY = "organ_query"  # 中编办 事业单位 / 机关群团
    COURT_APPLY = "court_apply"  # 最高法 司法判决 查询申请
    COURT_FEEDBACK = "court_feedback"  # 最高法 司法判决 结果反馈
    DEATH_CERTIFICATE = "death_certificate"  # 卫健委 死亡医学证明
    ENTERPRISE_QUERY = "enterprise_query"  # 市场监管总局 企业查询
    ENTERPRISE_CHECK = "enterprise_check"  # 市场监管总局 企业验证


# Services whose reply carries only the relay head (GF01 answers with the cxqqdh to poll with).
HEAD_ONLY = frozenset({Service.COURT_APPLY})


@dataclass(frozen=True)
class RelayReply:
    """The business payload (dict, list, or text such as XML; None when the reply is head-only)
    and the relay's request number (`cxqqdh`) as the relay echoed it, "" if it has none."""

    payload: Any
    request_number: str = ""


@dataclass(frozen=True)
class RelayConfig:
    """Where a relay listens. Secrets arrive already read from their files."""

    base_url: str
    ca_file: str | None = None
    max_reply_bytes: int = 2 * 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP POST a relay sends: a JSON body, form fields, or text (SOAP)."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None
    text: str | None = None

    def body(self) -> Any:
        if self.form is not None:
            return self.form
        return self.text if self.text is not None else json.dumps(self.json, ensure_ascii=False)


class Relay(abc.ABC):
    """Base of a relay: `codes` maps each service it carries to the relay's code for it."""

    name: ClassVar[str]
    codes: ClassVar[dict[Service, str]]

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    def code_for(self, service: Service) -> str:
        """The relay's code for `service`; a service the relay does not carry is a configuration error."""
        try:
            return self.codes[service]
        except KeyError:
            raise ValueError(f"{self.name} does not carry the service {service}") from None

    async def send(self, service: Service, payload: Any, call: CallInfo) -> RelayReply:
        """Carry one business payload and return the business reply, or raise an UpstreamError."""
        self.code_for(service)
        try:
            async with map_errors(self.name):
                return await self.exchange(service, payload, call)
        except PermissionDenied:
            log.warning("relay %s refused %s for want of permission; not retried", self.name, service.value)
            raise

    async def next_request_number(self) -> str:
        """A fresh 查询请求单号 from the relay's own numbering, for a payload that must cite the number
        its request will carry (pass it back as `CallInfo.request_number`)."""
        raise ValueError(f"{self.name} does not number its requests")

    async def exchange(self, service: Service, payload: Any, call: CallInfo) -> RelayReply:
        """One request, one reply. Relays with a credential to renew resend from here."""
        return self.ingress(service, await self.post(await self.egress(service, payload, call), call))

    @abc.abstractmethod
    async def egress(self, service: Service, payload: Any, call: CallInfo) -> HttpRequest:
        """Wrap the business payload into the relay's request."""

    @abc.abstractmethod
    def ingress(self, service: Service, body: bytes) -> RelayReply:
        """Unwrap the relay's reply body into the business payload, or raise."""

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_context: ssl.SSLContext | bool = True
            if self.config.ca_file:
                ssl_context = ssl.create_default_context(cafile=self.config.ca_file)
            self._session = aiohttp.ClientSession(
                base_url=self.config.base_url, connector=aiohttp.TCPConnector(ssl=ssl_context, limit=100)
            )
        return self._session

    async def post(self, request: HttpRequest, call: CallInfo) -> bytes:
        """POST and return the reply body (bounded); HTTP-level failures raise here."""
        async with self.session.post(
            request.path, headers=request.headers, timeout=client_timeout(call), data=request.body()
        ) as response:
            self.check_http(response)
            return await read_body(self.name, response, self.config.max_reply_bytes)

    def check_http(self, response: aiohttp.ClientResponse) -> None:
        check_status(self.name, response)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# --- helpers the relays share


def field_of(mapping: dict, name: str) -> Any:
    """`mapping[name]`, matching the key case-insensitively (relays spell `Status`, `STATUS`...); None if absent."""
    if name in mapping:
        return mapping[name]
    folded = name.casefold()
    return next((value for key, value in mapping.items() if str(key).casefold() == folded), None)


def envelope(relay: str, body: bytes) -> tuple[dict, dict]:
    """The `{head, data...}` reply every JSON relay sends: the whole object and its head."""
    reply = json_object(relay, body)
    head = field_of(reply, "head")
    if not isinstance(head, dict):
        raise BadUpstream(f"{relay}: reply has no head")
    return reply, head


def head_code(relay: str, head: dict, *names: str) -> str:
    """The head's status code, from the first of `names` present, as text."""
    for name in names:
        value = field_of(head, name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value).strip()
    raise BadUpstream(f"{relay}: reply head has no status code")


def raise_for_head_status(relay: str, code: str) -> None:
    """The status table the 部级接口 head uses (INTERFACES.md §1.3); success and unknown codes return."""
    if code.startswith("03") and len(code) == 4:
        raise PermissionDenied(f"{relay}: no permission for this service (status {code})")
    if code in ("0401", "0402"):
        raise RateLimited(f"{relay}: request rate refused (status {code})")
    if code == "0403":
        raise Timeout(f"{relay}: the service timed out behind the relay (status {code})")
    if code in ("0404", "9900"):
        raise Unavailable(f"{relay}: service error behind the relay (status {code})")


def unescape_text(relay: str, text: str) -> str:
    """Undo the JSON escaping a text payload picks up on its way (INTERFACES.md §8.2): an outer pair of
    quotes with `\\"`, `\\n`, `\\/` inside, or the escapes alone."""
    stripped = text.strip()
    quoted = len(stripped) >= 2 and stripped[0] == stripped[-1] == '"'
    if not quoted and not any(escape in stripped for escape in ('\\"', "\\/", "\\n")):
        return text
    try:
        value = json.loads(stripped if quoted else f'"{stripped}"')
    except ValueError:
        if quoted:
            raise BadUpstream(f"{relay}: text payload has broken escapes") from None
        return text  # a backslash that was never an escape (C:\\new\\data): keep the text as sent
    return value if isinstance(value, str) else text
