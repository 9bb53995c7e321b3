"""What the mock ministry services share (written from INTERFACES.md §1.3/§3.6, not from the
connectors): one signed JSON POST `{"head": {requestType, cxqqdh, businessNumber}, "data": ...}`
answered `{"head": {"status", "msg", "requestType", "cxqqdh"}, "data": <business reply>}`.

Signature: hex HMAC-SHA256(secret, app_id \\n timestamp-ms \\n nonce \\n sha256-hex(body)) in
X-App-Id / X-Timestamp / X-Nonce / X-Signature; a stale timestamp or reused nonce is refused.
`next_statuses` makes the next replies carry relay status codes (0401, 0302, 9900 ...).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import deque
from typing import Any, ClassVar

from aiohttp import web

from mocks.server import MockDepartment, ReplayGuard, sent_at_ms
from mocks.world import World

_CXQQDH = re.compile(r"^\d{20}$")


def _reply(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class MinistryDepartment(MockDepartment):
    """Subclasses set `path`, `request_type` and implement `answer(data) -> business reply`."""

    path: ClassVar[str]
    request_type: ClassVar[str]

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.world = world
        self.secrets = secrets
        self.replays = ReplayGuard()
        self.next_statuses: deque[str] = deque()
        self.requests: list[dict] = []  # the business requests received, in order
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self.handle)

    def answer(self, data: dict) -> Any:
        raise NotImplementedError

    def accepts(self, request_type: str) -> bool:
        """Whether a direct request of this type is this department's (the court takes GF01 and GF99)."""
        return request_type == self.request_type

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        app_id, timestamp, nonce, signed = (request.headers.get(h, "") for h in
                                            ("X-App-Id", "X-Timestamp", "X-Nonce", "X-Signature"))
        secret = self.secrets.get(app_id)
        if secret is None:
            return _reply({"head": {"status": "0301", "msg": "鉴权服务执行失败"}}, 401)
        text = "\n".join((app_id, timestamp, nonce, hashlib.sha256(body).hexdigest()))
        expected = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signed) or not self.replays.fresh(sent_at_ms(timestamp)) \
                or not self.replays.first_use(nonce):
            return _reply({"head": {"status": "0301", "msg": "鉴权服务执行失败"}}, 401)
        try:
            envelope = json.loads(body)
            head, data = envelope["head"], envelope["data"]
            if not self.accepts(head["requestType"]) or not _CXQQDH.match(head["cxqqdh"]) \
                    or not isinstance(data, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _reply({"head": {"status": "9900", "msg": "请求参数错误"}}, 400)
        self.requests.append(data)
        self.stats["queries"] += 1
        echo = {"requestType": head["requestType"], "cxqqdh": head["cxqqdh"],
                "businessNumber": head.get("businessNumber", "")}
        if self.next_statuses:
            return _reply({"head": {**echo, "status": self.next_statuses.popleft(), "msg": "异常"}})
        return _reply({"head": {**echo, "status": "0200", "msg": "正常"}, "data": self.answer(data)})
