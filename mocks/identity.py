"""Mock Ministry of Public Security identity check (公安部 身份核查).

Speaks the national exchange envelope: X-App-Id, X-Timestamp (ms), X-Nonce and
X-Signature = hex HMAC-SHA256(secret, app_id \\n timestamp \\n nonce \\n sha256hex(body)).
Refuses a bad signature, a timestamp more than 5 minutes off and a nonce seen before.
Answers per-item check codes: 000 consistent, 999 no record, 001 name differs.
"""
from __future__ import annotations

import hashlib
import hmac
import json

from aiohttp import web

from mocks.population import unknown_id
from mocks.server import MockDepartment, ReplayGuard, sent_at_ms
from mocks.world import World

class EnvelopeGuard:
    """Checks signature, freshness and nonce reuse of the exchange-platform envelope."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.replays = ReplayGuard()

    def check(self, headers, body: bytes) -> str | None:
        """Return None when the envelope is good, else the refusal reason."""
        app_id, ts, nonce, signature = (headers.get(h, "") for h in ("X-App-Id", "X-Timestamp", "X-Nonce", "X-Signature"))
        secret = self.secrets.get(app_id)
        if secret is None:
            return "unknown app id"
        if not self.replays.fresh(sent_at_ms(ts)):
            return "stale or invalid timestamp"
        message = "\n".join([app_id, ts, nonce, hashlib.sha256(body).hexdigest()]).encode()
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        if not self.replays.first_use(nonce):
            return "nonce replayed"
        return None


def refusal(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"head": {"status": code, "msg": msg}}, status=status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


class IdentityDepartment(MockDepartment):
    name = "identity"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.people = {p.id_number: p for p in world.persons}
        self.guard = EnvelopeGuard(secrets)
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/gaapi/v1/identity/check", self.check)

    async def check(self, request: web.Request) -> web.Response:
        body = await request.read()
        reason = self.guard.check(request.headers, body)
        if reason is not None:
            self.stats["refused"] += 1
            return refusal(401, "E401", reason)
        try:
            envelope = json.loads(body)
            name, number = envelope["body"]["xm"], envelope["body"]["gmsfhm"]
        except (ValueError, KeyError, TypeError):
            return refusal(400, "E400", "请求报文格式错误")
        person = self.people.get(number)
        if person is None:
            data = {"result": "999", "resultMsg": "无匹配记录"}
        elif person.name != name:
            data = {"result": "001", "resultMsg": "姓名不一致", "items": [{"item": "xm", "code": "001"}]}
        else:
            data = {"result": "000", "resultMsg": "核查一致"}
        return web.json_response({"head": {"status": "00", "msg": "成功"}, "data": data},
                                 dumps=lambda o: json.dumps(o, ensure_ascii=False))


COMPOUND = {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙", "宇文", "司徒", "端木"}


def samples(world: World) -> dict:
    """Persons with known identity outcomes (for samples.json)."""
    people = world.persons
    han = [p for p in people if p.kind == "resident" and p.ethnicity == "01" and p.id_number not in world.deaths]
    compound = next(p for p in han if p.name[:2] in COMPOUND)
    minority = next(p for p in people if "·" in p.name and p.kind == "resident")
    permit = next(p for p in people if p.kind == "hmt")
    foreigner = next(p for p in people if p.kind == "foreigner")
    mismatch = han[1]
    wrong_name = ("张" if mismatch.name[0] != "张" else "李") + mismatch.name[1:]
    return {
        "match": [
            {"label": "plain match", "name": han[0].name, "id_number": han[0].id_number},
            {"label": "compound surname", "name": compound.name, "id_number": compound.id_number},
            {"label": "minority name with ·", "name": minority.name, "id_number": minority.id_number},
            {"label": "Hong Kong/Macao/Taiwan residence permit", "name": permit.name, "id_number": permit.id_number},
            {"label": "foreigner's permanent residence card", "name": foreigner.name, "id_number": foreigner.id_number},
        ],
        "name_mismatch": [{"label": "wrong surname", "name": wrong_name, "id_number": mismatch.id_number}],
        "not_found": [{"label": "valid number nobody holds", "name": "王小明", "id_number": unknown_id(people, world.seed)}],
    }
