"""Relay C: a provincial 省级平台 (realestate-supervise-exchange; INTERFACES.md §3).

Form POST with one field `gxData` = JSON `{head, data}`; `data.cxywlb` names the service and
`data.cxywcs` is always an array of per-subject parameters. A token from the platform's token
endpoint rides in `head.token`; a reply coded `2002` means the token expired: renew it once (under
a lock, so concurrent calls share one renewal) and resend once, as aiohttp's token-refresh client
middleware does. Each service has its own success flag (§3.6).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from connectors.base.contract import CallInfo
from connectors.base.errors import BadUpstream, PermissionDenied, Rejected
from connectors.relay.contract import (
    HEAD_ONLY,
    HttpRequest,
    Relay,
    RelayConfig,
    RelayReply,
    Service,
    envelope,
    field_of,
    raise_for_head_status,
    unescape_text,
)
from connectors.relay.serial import DailySerial, request_number

NAME = "省级平台"
TOKEN_EXPIRED = "2002"
TOKEN_OK = "0000"

# Success flag per service (§3.6). 地名 and 社会组织 are in the "2.x" group, documented as 0200.
SUCCESS = {
    Service.IDENTITY_CHECK: "0200",
    Service.PLACE_NAME_QUERY: "0200",
    Service.SOCIAL_ORG_QUERY: "0200",
    Service.ORGAN_QUERY: "0200",
    Service.COURT_APPLY: "0200",
    Service.COURT_FEEDBACK: "0200",
    Service.MARRIAGE_QUERY: "1",
    Service.FINANCIAL_LICENSE_QUERY: "200",
    Service.POPULATION_BASEINFO: "0",
    Service.DEATH_CERTIFICATE: "0",
    Service.CREMATION_QUERY: "0",
    Service.ENTERPRISE_CHECK: "0",
    Service.ENTERPRISE_QUERY: "0000",
}

# Where the business payload sits in the reply: the 2.x set directly under `data`, the 政务 (zw_*)
# set under `data.cxjg`, the court feedback XML under `data.data`.
PAYLOAD_PATH = {
    Service.COURT_FEEDBACK: ("data", "data"),
    Service.POPULATION_BASEINFO: ("data", "cxjg"),
    Service.DEATH_CERTIFICATE: ("data", "cxjg"),
    Service.CREMATION_QUERY: ("data", "cxjg"),
    Service.ENTERPRISE_QUERY: ("data", "cxjg"),
    Service.ENTERPRISE_CHECK: ("data", "cxjg"),
}


class TokenExpired(Rejected):
    """The platform answered 2002: the token is no longer valid."""


@dataclass(frozen=True)
class ProvincialConfig(RelayConfig):
    region: str = ""  # head.xzqdm: 6-digit 区县代码
    username: str = ""  # token login issued by the platform
    password: str = ""  # as issued (32 hex, already encoded by the platform)
    dept_name: str = ""
    client_ip: str = ""  # head.ip
    serial_file: str = ".querynode/relay/sjpt-cxqqdh"
    token_path: str = "/realestate-supervise-exchange/api/v1/bdc/token"
    query_path: str = "/realestate-supervise-exchange/api/v1/other-subject/query/apply"


def form_headers() -> dict[str, str]:
    return {"timestamp": str(int(time.time())), "unitCode": "LandResourcesBureau",
            "contentType": "application/x-www-form-urlencoded"}


def gx_data(head: dict, data: dict) -> dict[str, str]:
    return {"gxData": json.dumps({"head": head, "data": data}, ensure_ascii=False, separators=(",", ":"))}


def codes_of(head: dict) -> list[str]:
    """Every status-like value in the head (`status` or `code`, any case), as text."""
    values = (field_of(head, name) for name in ("status", "code"))
    return [str(v).strip() for v in values if isinstance(v, str | int) and not isinstance(v, bool)]


class ProvincialRelay(Relay):
    name = NAME
    codes = {
        Service.IDENTITY_CHECK: "police_identity_check",
        Service.POPULATION_BASEINFO: "zw_police_baseinfo",
        Service.MARRIAGE_QUERY: "civil_marriage_query",
        Service.SOCIAL_ORG_QUERY: "civil_social_query",
        Service.PLACE_NAME_QUERY: "civil_placename_query",
        Service.CREMATION_QUERY: "zw_civil_crem",
        Service.FINANCIAL_LICENSE_QUERY: "cbirc_financial_query",
        Service.ORGAN_QUERY: "scopsr_organ_query",
        Service.COURT_APPLY: "supremecourt_decision_apply",
        Service.COURT_FEEDBACK: "supremecourt_decision_response",
        Service.DEATH_CERTIFICATE: "zw_nhcprc_death-cert",
        Service.ENTERPRISE_QUERY: "zw_samr_enterprise_query",
        Service.ENTERPRISE_CHECK: "zw_samr_enterprise_check",
    }

    def __init__(self, config: ProvincialConfig) -> None:
        if not (len(config.region) == 6 and config.region.isdigit()):
            raise ValueError(f"{NAME}: region must be a 6-digit 区县代码")
        super().__init__(config)
        self.config: ProvincialConfig = config
        self.serial = DailySerial(config.serial_file)
        self.token = ""
        self._token_lock = asyncio.Lock()

    async def exchange(self, service: Service, payload: Any, call: CallInfo) -> RelayReply:
        if not self.token:
            await self.renew_token("", call)
        used = self.token
        try:
            return await super().exchange(service, payload, call)
        except TokenExpired:
            await self.renew_token(used, call)
            return await super().exchange(service, payload, call)  # a second 2002 propagates

    async def renew_token(self, stale: str, call: CallInfo) -> None:
        """Fetch a new token unless another call already replaced `stale`."""
        async with self._token_lock:
            if self.token != stale:
                return
            request = HttpRequest(self.config.token_path, form_headers(), form=gx_data(
                {"xzqdm": self.config.region},
                {"username": self.config.username, "password": self.config.password},
            ))
            reply, head = envelope(NAME, await self.post(request, call))
            codes = codes_of(head)
            for code in codes:
                raise_for_head_status(NAME, code)
            data = field_of(reply, "data")
            token = field_of(data, "token") if isinstance(data, dict) else None
            if TOKEN_OK not in codes:
                raise PermissionDenied(f"{NAME}: token refused (code {(codes or ['none'])[0][:8]})")
            if not isinstance(token, str) or not token:
                raise BadUpstream(f"{NAME}: token reply has no token")
            self.token = token

    async def next_request_number(self) -> str:
        return await request_number(self.serial, self.config.region)

    async def egress(self, service: Service, payload: Any, call: CallInfo) -> HttpRequest:
        head = {
            "xzqdm": self.config.region,
            "token": self.token,
            "deptName": self.config.dept_name,
            "userName": call.operator_id,
            "cxqqdh": call.request_number or await self.next_request_number(),
            "businessNumber": call.case_number,
            "ip": self.config.client_ip,
        }
        items = payload if isinstance(payload, list) else [payload]
        data = {"cxywlb": self.code_for(service), "cxywcs": items}
        return HttpRequest(self.config.query_path, form_headers(), form=gx_data(head, data))

    def ingress(self, service: Service, body: bytes) -> RelayReply:
        reply, head = envelope(NAME, body)
        codes = codes_of(head)
        if TOKEN_EXPIRED in codes:
            raise TokenExpired(f"{NAME}: token expired ({TOKEN_EXPIRED})")
        number = field_of(head, "cxqqdh")
        number = number if isinstance(number, str) else ""
        if SUCCESS[service] not in codes:
            for code in codes:
                raise_for_head_status(NAME, code)
            raise BadUpstream(f"{NAME}: unknown status {(codes or ['none'])[0][:8]!r}")
        if service in HEAD_ONLY:
            return RelayReply(None, number)
        payload: Any = reply
        for key in PAYLOAD_PATH.get(service, ("data",)):
            payload = field_of(payload, key) if isinstance(payload, dict) else None
            if payload is None:
                raise BadUpstream(f"{NAME}: reply has no {key}")
        if isinstance(payload, str):
            payload = unescape_text(NAME, payload)
        elif not isinstance(payload, dict | list):
            raise BadUpstream(f"{NAME}: reply payload is neither an object, an array nor text")
        return RelayReply(payload, number)
