"""Mock National Health Commission death medical certificate query (卫健委 死亡医学证明查询).

Unlike the other departments it speaks XML and answers in GBK:
- request: POST /nhc/swzm/query, UTF-8 XML
  <Request><Head><AppKey/><Timestamp>yyyyMMddHHmmss</Timestamp><Nonce/><Sign/>
  <OrgName/><Operator/><BusinessNo/></Head><Body><XM/><SFZH/></Body></Request>;
  Sign = upper-case hex HMAC-SM3(secret, "AppKey=..&Nonce=..&SFZH=..&Timestamp=..&XM=..");
- reply: HTTP 200 always, <?xml version="1.0" encoding="GBK"?><Response><Head><Code/>
  <Message/></Head><Body><Record>...</Record></Body></Response>, Code 00 found, 01 no
  certificate, 02 name and ID number do not belong together, 10 sign refused, 11 bad
  request, 99 busy;
- record: SFZH, XM, XB (sex code), MZ (ethnicity code), SWYYDM (ICD-10 cause), SWRQ
  (yyyy-MM-dd), ZMBH (certificate number), QFJG (issuer).
"""
from __future__ import annotations

import hmac
from xml.etree import ElementTree as ET

from aiohttp import web
from defusedxml.ElementTree import fromstring

from mocks.server import MockDepartment, ReplayGuard, sent_at_beijing
from mocks.world import World


def sign(secret: str, fields: dict[str, str]) -> str:
    """The department's own check (OpenSSL's SM3 through hashlib, not the connector's library)."""
    message = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
    return hmac.new(secret.encode(), message.encode(), "sm3").hexdigest().upper()


def respond(code: str, message: str, record: dict[str, str] | None = None) -> web.Response:
    root = ET.Element("Response")
    head = ET.SubElement(root, "Head")
    ET.SubElement(head, "Code").text = code
    ET.SubElement(head, "Message").text = message
    body = ET.SubElement(root, "Body")
    if record is not None:
        item = ET.SubElement(body, "Record")
        for key, value in record.items():
            ET.SubElement(item, key).text = value
    xml = '<?xml version="1.0" encoding="GBK"?>\n' + ET.tostring(root, encoding="unicode")
    return web.Response(body=xml.encode("gbk"), content_type="application/xml", charset="GBK")


class DeathDepartment(MockDepartment):
    name = "death"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.deaths = world.deaths
        self.secrets = secrets
        self.replays = ReplayGuard()
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/nhc/swzm/query", self.query)

    async def query(self, request: web.Request) -> web.Response:
        try:
            root = fromstring(await request.read())
            head = {e.tag: (e.text or "") for e in root.find("Head")}
            body = {e.tag: (e.text or "") for e in root.find("Body")}
            name, number = body["XM"], body["SFZH"].upper()
            app_key, timestamp, nonce, given = head["AppKey"], head["Timestamp"], head["Nonce"], head["Sign"]
        except Exception:  # noqa: BLE001 - any malformed request gets the department's 11
            return respond("11", "请求报文格式错误")
        secret = self.secrets.get(app_key)
        expected = sign(secret, {"AppKey": app_key, "Nonce": nonce, "SFZH": body["SFZH"], "Timestamp": timestamp,
                                 "XM": name}) if secret else ""
        if (secret is None or not self.replays.fresh(sent_at_beijing(timestamp))
                or not hmac.compare_digest(expected, given) or not self.replays.first_use(nonce)):
            self.stats["refused"] += 1
            return respond("10", "签名校验失败")
        death = self.deaths.get(number)
        if death is None:
            return respond("01", "未查询到死亡医学证明信息")
        if death.person.name != name:
            return respond("02", "姓名与身份证件号码不一致")
        person = death.person
        return respond("00", "查询成功", {
            "SFZH": person.id_number, "XM": person.name, "XB": person.sex, "MZ": person.ethnicity,
            "SWYYDM": death.cause_code, "SWRQ": death.died_on.isoformat(), "ZMBH": death.certificate_number,
            "QFJG": death.issuer,
        })


def samples(world: World) -> dict:
    """Deceased and living persons with known death outcomes (for samples.json)."""
    def entry(label: str, person, **more) -> dict:
        return {"label": label, "name": person.name, "id_number": person.id_number, **more}

    deaths = sorted(world.deaths.values(), key=lambda d: d.person.id_number)
    old = next(d for d in deaths if d.certificate_number != d.person.id_number)
    out = {"deceased": [entry("certificate with a printed serial", old.person, died_on=old.died_on.isoformat(),
                              certificate_number=old.certificate_number)]}
    recent = next((d for d in deaths if d.certificate_number == d.person.id_number), None)
    if recent is not None:  # only when the world holds a death from 2026-07-01 on
        out["deceased"].append(entry("certificate numbered by the ID number (from 2026-07-01)", recent.person,
                                     died_on=recent.died_on.isoformat(), certificate_number=recent.certificate_number))
    living = next(p for p in world.persons if p.id_number not in world.deaths and p.kind == "resident")
    out["living"] = [entry("no death certificate", living)]
    return out
