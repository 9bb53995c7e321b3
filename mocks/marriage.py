"""Mock Ministry of Civil Affairs marriage registration query (民政部 婚姻登记信息查询).

Its own habits, unlike the MPS envelope:
- a short-lived access token: POST /mca/hyjk/token with {app_id, timestamp (ms), sign =
  hex HMAC-SHA256(secret, app_id + timestamp)} gives {access_token, expires_in};
- the query envelope carries the token in its head (user_id, token, dept_name, user_name,
  req_type, query_req_no, business_no, division_code);
- the body names the man and/or the woman (name_man, cert_num_man, name_woman,
  cert_num_woman); an act is returned when its party's ID number matches (not the name: a
  marriage registered under a former name is still the person's);
- every reply is HTTP 200 with head.status: 0000 found, 1001 no record, 2001 token invalid
  or expired, 2002 bad request; dates are YYYYMMDD; acts oldest first.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets as token_source
import time

from aiohttp import web

from mocks.population import Person
from mocks.server import MockDepartment
from mocks.world import MarriageAct, World

MAX_SKEW_MS = 5 * 60 * 1000
HEAD_FIELDS = ("user_id", "token", "dept_name", "user_name", "req_type", "query_req_no", "business_no",
               "division_code")
NATIONALITY = {"810000": "HKG", "820000": "MAC", "830000": "TWN"}


def reply(status: str, msg: str, data: dict | None = None) -> web.Response:
    body = {"head": {"status": status, "msg": msg}}
    if data is not None:
        body["data"] = data
    return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def nationality(person: Person) -> str:
    return NATIONALITY.get(person.address_code, "CHN")


def act_record(act: MarriageAct) -> dict:
    return {
        "op_type": act.op_type, "op_date": f"{act.registered_on:%Y%m%d}",
        "dept_code": act.office_code, "dept_name": act.office_name, "cert_num": act.certificate_number,
        "name_man": act.man.name, "cert_num_man": act.man.id_number,
        "birth_man": f"{act.man.birth_date:%Y%m%d}", "nation_man": nationality(act.man),
        "name_woman": act.woman.name, "cert_num_woman": act.woman.id_number,
        "birth_woman": f"{act.woman.birth_date:%Y%m%d}", "nation_woman": nationality(act.woman),
    }


class MarriageDepartment(MockDepartment):
    name = "marriage"

    def __init__(self, world: World, secrets: dict[str, str], token_ttl: float = 7200.0) -> None:
        self.world = world
        self.secrets = secrets
        self.token_ttl = token_ttl
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (app id, expiry, monotonic)
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/mca/hyjk/token", self.token)
        app.router.add_post("/mca/hyjk/query", self.query)

    async def token(self, request: web.Request) -> web.Response:
        try:
            ask = json.loads(await request.read())
            app_id, timestamp, sign = str(ask["app_id"]), str(ask["timestamp"]), str(ask["sign"])
        except (ValueError, KeyError, TypeError):
            return reply("2002", "请求参数错误")
        secret = self.secrets.get(app_id)
        if secret is None or not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > MAX_SKEW_MS:
            self.stats["refused"] += 1
            return reply("2003", "应用未授权或时间戳无效")
        expected = hmac.new(secret.encode(), f"{app_id}{timestamp}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign):
            self.stats["refused"] += 1
            return reply("2003", "签名错误")
        token = token_source.token_hex(20)
        self._tokens[token] = (app_id, time.monotonic() + self.token_ttl)
        self.stats["tokens"] += 1
        return reply("0000", "成功", {"access_token": token, "expires_in": int(self.token_ttl)})

    def _token_valid(self, app_id: str, token: str) -> bool:
        held = self._tokens.get(token)
        if held is None or held[0] != app_id:
            return False
        if held[1] < time.monotonic():
            del self._tokens[token]
            return False
        return True

    async def query(self, request: web.Request) -> web.Response:
        try:
            envelope = json.loads(await request.read())
            head, body = envelope["head"], envelope["body"]
            if not all(isinstance(head.get(f), str) for f in HEAD_FIELDS):
                raise KeyError("head")
            asked = [(body.get(f"cert_num_{side}", ""), body.get(f"name_{side}", ""), side)
                     for side in ("man", "woman")]
        except (ValueError, KeyError, TypeError, AttributeError):
            return reply("2002", "请求参数错误")
        if not self._token_valid(head["user_id"], head["token"]):
            self.stats["refused"] += 1
            return reply("2001", "令牌无效或已过期")
        asked = [(number, name, side) for number, name, side in asked if number or name]
        if not asked or not all(isinstance(n, str) and n and isinstance(m, str) and m for n, m, _ in asked):
            return reply("2002", "请求参数错误")
        acts: dict[str, MarriageAct] = {}
        for number, name, side in asked:
            for act in self.world.acts_of(number.upper()):
                party = act.man if side == "man" else act.woman
                if party.id_number == number.upper():  # by ID only: a name may have changed since
                    acts[act.certificate_number] = act
        if not acts:
            return reply("1001", "未查询到婚姻登记信息")
        ordered = sorted(acts.values(), key=lambda a: (a.registered_on, a.certificate_number))
        return reply("0000", "查询成功", {"total": len(ordered), "list": [act_record(a) for a in ordered]})


# ------------------------------------------------------------------ samples


def _current(world: World, person: Person) -> tuple[str, Person | None]:
    """Status and spouse from the latest status-changing act (reissues change nothing)."""
    acts = [a for a in world.acts_of(person.id_number) if a.op_type in ("IA", "IB", "ID")]
    if not acts:
        return "NO_RECORD", None
    latest = acts[-1]
    spouse = latest.woman if latest.man.id_number == person.id_number else latest.man
    return {"IA": "MARRIED", "IB": "DIVORCED", "ID": "ANNULLED"}[latest.op_type], spouse


def samples(world: World) -> dict:
    """Persons and couples with known marriage outcomes (for samples.json)."""
    def entry(label: str, person: Person, **more) -> dict:
        return {"label": label, "name": person.name, "id_number": person.id_number, **more}

    def spouse_of(person: Person, spouse: Person) -> dict:
        return {"spouse_name": spouse.name, "spouse_id_number": spouse.id_number}

    alive = [p for p in world.persons if p.id_number not in world.deaths]
    adults = [p for p in alive if p.kind == "resident" and p.birth_date.year < 1990]
    by_status: dict[str, list[tuple[Person, Person | None]]] = {}
    for person in adults:
        status, spouse = _current(world, person)
        by_status.setdefault(status, []).append((person, spouse))
    married = [(p, s) for p, s in by_status["MARRIED"] if s.id_number not in world.deaths]
    remarried = next((p, s) for p, s in married
                     if len({a.certificate_number for a in world.acts_of(p.id_number) if a.op_type == "IA"}) > 1)
    plain = next((p, s) for p, s in married if len(world.acts_of(p.id_number)) == 1)
    divorced = by_status["DIVORCED"][0]
    annulled = by_status["ANNULLED"][0]
    never = by_status["NO_RECORD"][0][0]
    other = next(p for p, _ in married[1:] if p.sex != plain[0].sex and p.id_number != plain[1].id_number)
    return {
        "married": [entry("married, one registration", plain[0], **spouse_of(*plain))],
        "remarried": [entry("divorced, then married someone else", remarried[0], **spouse_of(*remarried))],
        "divorced": [entry("divorced", divorced[0])],
        "annulled": [entry("marriage annulled", annulled[0])],
        "no_record": [entry("never registered", never)],
        "couple": [entry("married to each other", plain[0], **spouse_of(*plain))],
        "not_a_couple": [entry("each married to someone else", plain[0], **spouse_of(plain[0], other))],
    }
