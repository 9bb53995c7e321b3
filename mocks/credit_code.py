"""Mock SAMR enterprise register (市场监管总局 企业登记信息共享接口).

Its protocol differs from the identity exchange on purpose, as real departments differ:

- Access token first: `POST /samr/oauth/token`, form fields `client_id`, `timestamp` (ms)
  and `signature` = hex HMAC-SHA256(secret, client_id + timestamp) ->
  `{"access_token": ..., "token_type": "Bearer", "expires_in": 7200}`. The secret never
  travels; a timestamp more than 5 minutes off is refused.
- Search: `POST /samr/api/v1/ent/search` with `Authorization: Bearer <token>` and JSON
  `{"uniscid": code}` or `{"entname": exact name}` plus `pageNo` (from 1) and `pageSize`
  (capped at the department's maximum) ->
  `{"code": "0000", "msg": "查询成功", "data": {"total", "pageNo", "pageSize", "list"}}`.
  Records carry SAMR's own field names: UNISCID ENTNAME NAME (legal representative)
  ENTTYPE_CN DOM REGCAP (万元, decimal text) REGCAPCUR_CN ESTDATE REGORG_CN REGSTATE_CN OPSCOPE.
  No match is `total: 0` with an empty list.
- A missing, unknown or revoked token is HTTP 401 `{"code": "4011"}`; a malformed search 400.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets as token_source
import time
from decimal import Decimal

from aiohttp import web

from mocks.server import MockDepartment, ReplayGuard, sent_at_ms
from mocks.world import Organization, World, make_credit_code

TOKEN_TTL_SECONDS = 7200
STATUS_TEXT = {"存续": "存续（在营、开业、在册）", "吊销": "吊销，未注销", "注销": "注销"}


def _reply(payload: dict, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def record(org: Organization) -> dict:
    """One organisation as SAMR writes it."""
    amount, _, currency = org.registered_capital.partition("万元")
    return {
        "UNISCID": org.credit_code, "ENTNAME": org.name, "NAME": org.legal_representative.name,
        "ENTTYPE_CN": org.org_type, "DOM": org.domicile, "REGCAP": f"{Decimal(amount):.6f}",
        "REGCAPCUR_CN": currency or "人民币", "ESTDATE": org.established_on.isoformat(),
        "REGORG_CN": org.issuing_office, "REGSTATE_CN": STATUS_TEXT[org.status], "OPSCOPE": org.scope,
    }


class CreditCodeDepartment(MockDepartment):
    name = "credit_code"

    def __init__(self, world: World, secrets: dict[str, str], *, max_page_size: int = 20) -> None:
        self.secrets = secrets
        self.max_page_size = max_page_size
        self.by_code = {o.credit_code: o for o in world.organizations}
        self.by_name: dict[str, list[Organization]] = {}
        for org in world.organizations:
            self.by_name.setdefault(org.name, []).append(org)
        self.tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.request_ids: list[str] = []
        self.replays = ReplayGuard()
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/samr/oauth/token", self.token)
        app.router.add_post("/samr/api/v1/ent/search", self.search)

    def revoke_tokens(self) -> None:
        """Forget every issued token, as the real platform does on key rotation."""
        self.tokens.clear()

    async def token(self, request: web.Request) -> web.Response:
        self.stats["token"] += 1
        form = await request.post()
        client_id, timestamp, signature = (str(form.get(k, "")) for k in ("client_id", "timestamp", "signature"))
        secret = self.secrets.get(client_id)
        if secret is None:
            return _reply({"code": "4010", "msg": "客户端未注册"}, 401)
        if not self.replays.fresh(sent_at_ms(timestamp)):
            return _reply({"code": "4012", "msg": "时间戳无效"}, 401)
        expected = hmac.new(secret.encode(), (client_id + timestamp).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return _reply({"code": "4013", "msg": "签名错误"}, 401)
        token = token_source.token_urlsafe(24)
        self.tokens[token] = time.time() + TOKEN_TTL_SECONDS
        return _reply({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL_SECONDS})

    async def search(self, request: web.Request) -> web.Response:
        self.request_ids.append(request.headers.get("X-Request-Id", ""))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.tokens.get(token, 0) < time.time():
            self.stats["refused"] += 1
            return _reply({"code": "4011", "msg": "token无效或已过期"}, 401)
        try:
            body = json.loads(await request.read())
            page_no, page_size = int(body.get("pageNo", 1)), int(body.get("pageSize", 10))
            code, name = body.get("uniscid"), body.get("entname")
            if page_no < 1 or page_size < 1 or bool(code) == bool(name):
                raise ValueError
        except (ValueError, TypeError, AttributeError):
            return _reply({"code": "4000", "msg": "请求参数错误"}, 400)
        page_size = min(page_size, self.max_page_size)
        if code:
            found = [self.by_code[code]] if code in self.by_code else []
        else:
            found = self.by_name.get(name, [])
        start = (page_no - 1) * page_size
        rows = [record(o) for o in found[start:start + page_size]]
        return _reply({"code": "0000", "msg": "查询成功",
                       "data": {"total": len(found), "pageNo": page_no, "pageSize": page_size, "list": rows}})


def samples(world: World) -> dict:
    """Organisations with known outcomes (for samples.json)."""
    companies = [o for o in world.organizations if o.name.endswith("有限公司") and o.issuing_office != "国家市场监督管理总局"]

    def first(status: str) -> Organization:
        return next(o for o in companies if o.status == status)

    def entry(label: str, org: Organization) -> dict:
        return {"label": label, "credit_code": org.credit_code, "name": org.name, "status": org.status}

    taken = {o.credit_code for o in world.organizations}
    rng = random.Random(world.seed * 11 + 2)
    unknown = make_credit_code(rng, "9", "1", "110105")
    while unknown in taken:
        unknown = make_credit_code(rng, "9", "1", "110105")
    # same first 17 characters, another last one: the check fails, as on some 2015 pilot codes
    pilot = unknown[:17] + next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != unknown[17])
    bank = next(o for o in world.organizations if o.name == world.licenses[0].organization.name)
    return {
        "active": [entry("active company (存续)", first("存续")), entry("licensed bank", bank)],
        "revoked": [entry("company with revoked business licence (吊销)", first("吊销"))],
        "cancelled": [entry("deregistered company (注销)", first("注销"))],
        "not_found": [{"label": "valid credit code nobody holds", "credit_code": unknown}],
        "pilot_code": [{"label": "2015 pilot-style code whose check character fails (warning, still asked)",
                        "credit_code": pilot}],
    }
