"""Mock banking regulator licence register (金融监管总局 金融许可证信息查询).

Another protocol again, as real departments differ:

- Headers `appKey`, `timestamp` (yyyyMMddHHmmss, Beijing time), `nonceStr` and
  `sign` = base64 HMAC-SHA256(secret, appKey & timestamp & nonceStr & sha256hex(body)).
- `POST /jrxkz/api/v2/licence/query`, JSON `{"cxlx": "01", "jgbm": licence code}` or
  `{"cxlx": "02", "jgmc": full institution name}`.
- Every answer is HTTP 200 with an in-band `retCode`: `0000` found (`result` list),
  `1404` no such licence, `1001` bad signature, `1002` stale timestamp, `1003` malformed
  request, `9999` busy. Records use pinyin abbreviations: jgbm (code) lsh (serial)
  jgqc jgjc ywmc (full, short, English name) jgdz (address) fzjg (issuing regulator)
  pzrq fzrq (approval and print dates, YYYYMMDD) ywfw (scope) zt (有效 / 已收回)
  tyshxydm (credit code). No institution type: it follows from the code's first letter.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from aiohttp import web

from mocks.server import MockDepartment, ReplayGuard, sent_at_beijing
from mocks.world import License, World


def _reply(payload: dict) -> web.Response:
    return web.json_response(payload, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def record(lic: License) -> dict:
    """One licence as the regulator writes it."""
    return {
        "jgbm": lic.license_code, "lsh": lic.serial_number, "jgqc": lic.organization.name,
        "jgjc": lic.short_name, "ywmc": lic.english_name, "jgdz": lic.address, "fzjg": lic.issuing_office,
        "pzrq": lic.approved_on.strftime("%Y%m%d"), "fzrq": lic.issued_on.strftime("%Y%m%d"),
        "ywfw": lic.scope, "zt": "有效" if lic.valid else "已收回", "tyshxydm": lic.organization.credit_code,
    }


class FinancialLicenseDepartment(MockDepartment):
    name = "financial_license"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.by_code = {lic.license_code: lic for lic in world.licenses}
        self.by_name: dict[str, list[License]] = {}
        for lic in world.licenses:
            self.by_name.setdefault(lic.organization.name, []).append(lic)
        self.request_ids: list[str] = []
        self.replays = ReplayGuard()
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/jrxkz/api/v2/licence/query", self.query)

    def refusal(self, headers, body: bytes) -> dict | None:
        app_key, timestamp, nonce, sign = (headers.get(h, "") for h in ("appKey", "timestamp", "nonceStr", "sign"))
        secret = self.secrets.get(app_key)
        sent = sent_at_beijing(timestamp)
        if sent is None:
            return {"retCode": "1002", "retMsg": "时间戳格式错误"}
        if not self.replays.fresh(sent):
            return {"retCode": "1002", "retMsg": "请求已过期"}
        if secret is None:
            return {"retCode": "1001", "retMsg": "应用未授权"}
        message = "&".join([app_key, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()
        expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, sign):
            return {"retCode": "1001", "retMsg": "签名校验失败"}
        if not self.replays.first_use(nonce):
            return {"retCode": "1001", "retMsg": "随机串重复"}
        return None

    async def query(self, request: web.Request) -> web.Response:
        self.request_ids.append(request.headers.get("X-Request-Id", ""))
        body = await request.read()
        refused = self.refusal(request.headers, body)
        if refused is not None:
            self.stats["refused"] += 1
            return _reply(refused)
        try:
            asked = json.loads(body)
            if asked["cxlx"] == "01":
                lic = self.by_code.get(asked["jgbm"])
                found = [lic] if lic else []
            elif asked["cxlx"] == "02":
                found = self.by_name.get(asked["jgmc"], [])
            else:
                raise ValueError("unknown query type")
        except (ValueError, KeyError, TypeError):
            return _reply({"retCode": "1003", "retMsg": "请求报文格式错误"})
        if not found:
            return _reply({"retCode": "1404", "retMsg": "未查询到相关许可证信息"})
        return _reply({"retCode": "0000", "retMsg": "查询成功", "result": [record(lic) for lic in found]})


def samples(world: World) -> dict:
    """Licences with known outcomes (for samples.json). Every licensed institution also has a
    credit-code record; the unlicensed lender has a credit code and no licence."""
    bank = next(lic for lic in world.licenses if lic.valid and lic.license_code.startswith("B"))
    withdrawn = next(lic for lic in world.licenses if not lic.valid)
    lender = next(o for o in world.organizations if o.name == "北京鑫汇通小额贷款有限公司")
    taken = {lic.license_code for lic in world.licenses}
    unknown = next(f"B{n:04d}H111000001" for n in range(9999, 0, -1) if f"B{n:04d}H111000001" not in taken)

    def entry(label: str, lic: License) -> dict:
        return {"label": label, "license_code": lic.license_code, "institution_name": lic.organization.name,
                "credit_code": lic.organization.credit_code, "valid": lic.valid}

    return {
        "licensed_bank": [entry("commercial bank with a valid licence", bank)],
        "withdrawn": [entry("withdrawn licence of a former trust company", withdrawn)],
        "unlicensed_lender": [{"label": "lender with a credit code and no licence", "institution_name": lender.name,
                               "credit_code": lender.credit_code}],
        "not_found": [{"label": "well-formed licence code nobody holds", "license_code": unknown}],
    }
