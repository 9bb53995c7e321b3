"""Mock provincial platform (realestate-supervise-exchange): token endpoint and the one query endpoint.

Both take a form field `gxData` holding JSON `{head, data}`. The token endpoint answers code 0000
with `data.token` for the login it was given. A query with an unknown or expired token gets code
2002. Each service answers with its own success flag, and its payload under `data` (2.x services),
`data.cxjg` (政务 zw_* services) or `data.data` (court feedback XML).
"""
from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from mocks.relays.common import Handler, MockRelay

TOKEN_PATH = "/realestate-supervise-exchange/api/v1/bdc/token"
QUERY_PATH = "/realestate-supervise-exchange/api/v1/other-subject/query/apply"

# cxywlb -> (success flag, where the payload goes)
SERVICES = {
    "police_identity_check": ("0200", "data"),
    "civil_placename_query": ("0200", "data"),
    "civil_social_query": ("0200", "data"),
    "scopsr_organ_query": ("0200", "data"),
    "supremecourt_decision_apply": ("0200", "head"),
    "supremecourt_decision_response": ("0200", "data.data"),
    "civil_marriage_query": ("1", "data"),
    "cbirc_financial_query": ("200", "data"),
    "zw_samr_enterprise_query": ("0000", "data.cxjg"),
}
ZW_SERVICE = ("0", "data.cxjg")  # every other zw_* service
ZW_SERVICES = ("zw_police_baseinfo", "zw_police_id_check", "zw_nhcprc_death-cert", "zw_civil_crem",
               "zw_samr_enterprise_check", "zw_scopsr_institution", "zw_phc_death_query")


class MockProvincial(MockRelay):
    name = "sjpt-platform"

    def __init__(self, username: str, password: str, handlers: dict[str, Handler] | None = None) -> None:
        self.login = (username, password)
        self.tokens: set[str] = set()
        self.token_requests = 0
        super().__init__(handlers)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(TOKEN_PATH, self.token)
        app.router.add_post(QUERY_PATH, self.query)

    def services(self) -> dict[str, str]:
        return {code: code for code in (*SERVICES, *ZW_SERVICES)}

    async def code_of(self, request: web.Request) -> str | None:
        if request.path != QUERY_PATH:
            return None
        try:
            return str((await self.gx_data(request))["data"]["cxywlb"])
        except (ValueError, KeyError, TypeError):
            return None

    def handler(self, answer: Handler) -> Handler:
        """`cxywcs` is an array of requests: one is answered as it is, several as a list of answers."""
        return lambda items: answer(items[0]) if len(items) == 1 else [answer(item) for item in items]

    def expire_tokens(self) -> None:
        self.tokens.clear()

    @staticmethod
    async def gx_data(request: web.Request) -> dict[str, Any]:
        return json.loads((await request.post())["gxData"])

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        data = (await self.gx_data(request))["data"]
        if (data.get("username"), data.get("password")) != self.login:
            return web.json_response({"head": {"code": "0001", "msg": "用户名或密码错误"}, "data": {}})
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return web.json_response({"head": {"code": "0000", "msg": "success"}, "data": {"token": token}})

    async def query(self, request: web.Request) -> web.Response:
        envelope = await self.gx_data(request)
        head, data = envelope["head"], envelope["data"]
        code = data["cxywlb"]
        self.seen.append({"headers": dict(request.headers), "form": list((await request.post()).keys()),
                          "head": head, "data": data, "payload": data["cxywcs"]})
        if head.get("token") not in self.tokens:
            return web.json_response({"head": {"code": "2002", "msg": "token失效"}, "data": {}})
        if self.next_statuses:
            status = self.next_statuses.popleft()
            return web.json_response({self.key("head"): {self.key("status"): status, self.key("msg"): "异常"}})
        if code not in self.handlers:
            return web.json_response({self.key("head"): {self.key("status"): "0302", self.key("msg"): "没有访问权限"}})
        flag, place = SERVICES.get(code, ZW_SERVICE)
        reply_head = {self.key("status") if flag != "0000" else self.key("code"): flag,
                      self.key("msg"): "查询成功", self.key("cxqqdh"): head["cxqqdh"]}
        reply: dict[str, Any] = {self.key("head"): reply_head}
        result = self.carried(self.handlers[code](data["cxywcs"]))
        if place == "data":
            reply[self.key("data")] = result
        elif place == "data.cxjg":
            reply[self.key("data")] = {self.key("cxjg"): result}
        elif place == "data.data":
            reply[self.key("data")] = {"data": result}
        return web.json_response(reply)
