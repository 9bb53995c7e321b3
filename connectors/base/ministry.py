"""The ministry business payloads, carried over a relay chosen by configuration (`relay_from`),
or, without one, as a department answers them directly: a signed JSON POST
carrying `{"head": {requestType, cxqqdh, businessNumber}, "data": <business request>}`, and a
reply `{"head": {"status", "msg"}, "data": <business reply>}` (INTERFACES.md §1.3, §3.6: the
2.x services return the ministry payload under `data`). The head status codes are the relays'
(§1.3): 0200 ok; 03xx permission; 0401/0402/0403 retry; anything else unavailable.

Signature: hex HMAC-SHA256(secret, app_id \\n timestamp-ms \\n nonce \\n sha256-hex(body)) in
X-App-Id / X-Timestamp / X-Nonce / X-Signature; the secret never travels.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any, ClassVar

from connectors.base.contract import CallInfo, Connector, ConnectorConfig
from connectors.base.errors import BadUpstream, PermissionDenied, RateLimited, Rejected, Unavailable
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import json_object, query_request_number
from connectors.relay.contract import Relay, Service
from connectors.relay.gateway import GatewayConfig, GatewayRelay

OK = "0200"
RETRY = {"0401", "0402", "0403"}


def signature(secret: str, app_id: str, timestamp: str, nonce: str, body: bytes) -> str:
    text = "\n".join((app_id, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def lower_keys(value: Any) -> Any:
    """Field names as lower case, at every depth: relays spell the same field in either case (§13)."""
    if isinstance(value, dict):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def business_reply(dept: str, raw: bytes) -> Any:
    """The `data` of a reply whose head says 0200; typed errors for every other head."""
    reply = lower_keys(json_object(dept, raw))
    head = reply.get("head")
    status = head.get("status") if isinstance(head, dict) else None
    if not isinstance(status, str):
        raise BadUpstream(f"{dept}: reply has no head status")
    status = status.strip()
    if status in RETRY:
        raise RateLimited(f"{dept}: service busy (status {status})")
    if status.startswith("03"):
        raise PermissionDenied(f"{dept}: permission refused (status {status})")
    if status != OK:
        raise Unavailable(f"{dept}: service failed (status {status})")
    if "data" not in reply:
        raise BadUpstream(f"{dept}: reply has no data")
    return reply["data"]


def relay_from(config: ConnectorConfig, service: Service) -> Relay | None:
    """The relay configuration chooses for this department (option `relay`), or None to call the
    service directly. `relay: gateway` carries it over the 部级接口 gateway at the department url;
    option `gateway` holds `GatewayConfig` fields, `credentials_file` the operator's bjjk.json.
    A relay that does not carry the service stops the node at start-up (ValueError)."""
    kind = config.options.get("relay", "")
    if not kind:
        return None
    if kind != "gateway":
        raise ValueError(f"relay {kind!r} is not one this service can be carried over (gateway)")
    fields = dict(config.options.get("gateway", {}))
    credentials = fields.pop("credentials_file", None)
    if credentials:
        fields = {**json.loads(Path(credentials).read_text(encoding="utf-8")), **fields}
    relay = GatewayRelay(GatewayConfig(base_url=config.base_url, ca_file=config.ca_file,
                                       max_reply_bytes=config.max_reply_bytes, **fields))
    relay.code_for(service)
    return relay


class MinistryConnector(Connector):
    """A connector for one ministry service: subclasses set `department`, `path`, `request_type`,
    `service` (its name among the relays' services) and the region (option `region`, default
    110000) that numbers its direct requests. A department with a second service (最高法 GF01 then
    GF99) names it in `request_types` and passes `service` to `ask`."""

    path: str
    request_type: str
    service: Service
    request_types: ClassVar[dict[Service, str]] = {}

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        self.relay = relay_from(config, self.service)

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        await super().close()

    async def request_number(self) -> str:
        """A fresh 查询请求单号, numbered as the request will be: by the relay, or for the direct call."""
        if self.relay is not None:
            return await self.relay.next_request_number()
        return query_request_number(str(self.config.options.get("region", "110000")))

    async def ask(self, data: dict, call: CallInfo, service: Service | None = None) -> Any:
        service = service or self.service
        if self.relay is not None:
            return lower_keys((await self.relay.send(service, data, call)).payload)
        number = call.request_number or await self.request_number()
        request_type = self.request_types.get(service, self.request_type)
        body = json.dumps({"head": {"requestType": request_type, "cxqqdh": number,
                                    "businessNumber": call.case_number}, "data": data},
                          ensure_ascii=False).encode()
        timestamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(16)
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": call.request_id,
                   "X-App-Id": self.config.app_id, "X-Timestamp": timestamp, "X-Nonce": nonce,
                   "X-Signature": signature(self.config.secret, self.config.app_id, timestamp, nonce, body)}
        async with map_errors(self.department):
            async with self.session.post(self.path, data=body, headers=headers, timeout=client_timeout(call)) as resp:
                if resp.status in (401, 403):
                    raise Rejected(f"{self.department}: signature refused (HTTP {resp.status})")
                check_status(self.department, resp)
                raw = await read_body(self.department, resp, self.config.max_reply_bytes)
        return business_reply(self.department, raw)
