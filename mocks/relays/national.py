"""Mock national data-sharing platform: secret refresh and the REST proxy.

Secret refresh (POST JSON `{prefix_rid, prefix_sid, prefix_rtime, prefix_sign}`) checks
sign = Base64(HMAC-SHA256(appkey, sid+rid+rtime)), then answers `{"code":"0","data":{"secret",
"secretEndTime"}}` with the secret AES-128/ECB/PKCS5-encrypted under the key Java's SHA1PRNG
derives from the appkey (SHA-1 of SHA-1 of it, first 16 bytes). An unknown rid/sid gets `E-106`.

A business call must carry the headers with a sign made from the service's live secret, in the
variant the platform was started with (`hmac` or `secret`); otherwise HTTP 401. `expire_secrets()`
forgets every secret issued, as a platform whose secrets ran out.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import xml.etree.ElementTree as ET
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mocks.relays.common import Handler, MockRelay

SECRET_PATH = "/sysapi/auth/refreshappsecret"
BUSINESS_PATH = "/httpproxy"
SOAP_PATH = "/wsproxy"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
# The platform's catalogue: the services a centre holds credentials for (the keys of the gjpt.json the
# platform issues) -> the service's cxywlb code (§3.5), which the departments answer to.
CATALOGUE = {"marriage_query": "civil_marriage_query", "social_org_query": "civil_social_query",
             "cremation_query": "zw_civil_crem", "death_certificate": "zw_nhcprc_death-cert",
             "enterprise_query": "zw_samr_enterprise_query", "enterprise_check": "zw_samr_enterprise_check"}
# Form fields of the REST envelope (§4.3), not business parameters
COMMON_FORM = {"access_key", "format", "request_id", "sign", "timestamp", "version"}


def _mac(key: str, text: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()).decode()


def seal_secret(appkey: str, secret: str) -> str:
    key = hashlib.sha1(hashlib.sha1(appkey.encode()).digest()).digest()[:16]
    padder = block_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    padded = padder.update(secret.encode()) + padder.finalize()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


class MockNational(MockRelay):
    name = "gjpt-platform"

    def __init__(self, credentials: dict[str, dict[str, str]], handlers: dict[str, Handler] | None = None,
                 sign_variant: str = "hmac", prefix: str = "gjgxjhpt", secret_lifetime_ms: int = 30 * 60 * 1000,
                 catalogue: dict[str, str] | None = None) -> None:
        """`credentials`: sid -> {rid, appkey}; handlers are keyed by sid; `catalogue`: sid -> cxywlb."""
        self.credentials = credentials
        self.catalogue = dict(catalogue or {})
        self.sign_variant = sign_variant
        self.prefix = prefix
        self.secret_lifetime_ms = secret_lifetime_ms
        self.live_secrets: dict[str, str] = {}  # sid -> plain secret
        self.secret_requests = 0
        super().__init__(handlers)

    @classmethod
    def issuing(cls, issued: dict[str, dict[str, str]], **options: Any) -> "MockNational":
        """The platform that issued `issued` (gjpt.json: service name -> {rid, sid, appkey ...})."""
        return cls({c["sid"]: c for c in issued.values()},
                   catalogue={c["sid"]: CATALOGUE[name] for name, c in issued.items() if name in CATALOGUE},
                   **options)

    def services(self) -> dict[str, str]:
        return self.catalogue

    async def code_of(self, request: web.Request) -> str | None:
        if request.path == BUSINESS_PATH:
            return request.headers.get(f"{self.prefix}_sid")
        if request.path == SOAP_PATH:
            try:
                header = ET.fromstring(await request.read()).find(f"{{{SOAP}}}Header")
                return next((child.text for child in header if child.tag == f"{self.prefix}_sid"), None)
            except (ET.ParseError, TypeError):
                return None
        return None

    def routes(self, app: web.Application) -> None:
        app.router.add_post(SECRET_PATH, self.refresh)
        app.router.add_post(BUSINESS_PATH, self.business)
        app.router.add_post(SOAP_PATH, self.soap)

    def expire_secrets(self) -> None:
        self.live_secrets.clear()

    def auth(self, fields: Any) -> tuple[str, str, str, str]:
        p = self.prefix
        return tuple(str(fields.get(f"{p}_{name}", "")) for name in ("rid", "sid", "rtime", "sign"))  # type: ignore[return-value]

    async def refresh(self, request: web.Request) -> web.Response:
        self.secret_requests += 1
        rid, sid, rtime, sign = self.auth(await request.json())
        known = self.credentials.get(sid)
        if known is None or known["rid"] != rid:
            return web.json_response({"code": "E-106", "msg": "请求不存在于数据库授权列表中"})
        if not hmac.compare_digest(sign, _mac(known["appkey"], sid + rid + rtime)):
            return web.json_response({"code": "E-101", "msg": "签名错误"})
        secret = secrets.token_hex(16)
        self.live_secrets[sid] = secret
        ends = int(time.time() * 1000) + self.secret_lifetime_ms
        return web.json_response({"code": "0", "msg": "成功",
                                  "data": {"secret": seal_secret(known["appkey"], secret), "secretEndTime": ends}})

    def signed(self, rid: str, sid: str, rtime: str, sign: str) -> bool:
        secret = self.live_secrets.get(sid)
        wanted = _mac(secret, sid + rid + rtime) if self.sign_variant == "hmac" and secret else secret
        return secret is not None and hmac.compare_digest(sign, wanted or "")

    async def business(self, request: web.Request) -> web.Response:
        rid, sid, rtime, sign = self.auth(request.headers)
        form = dict(await request.post())
        if "biz_content" in form:
            payload = json.loads(form["biz_content"])
        else:  # 殡葬 sends its parameters as plain form fields beside the envelope's
            payload = {k: v for k, v in form.items() if k not in COMMON_FORM and not k.startswith(f"{self.prefix}_")}
        self.seen.append({"headers": dict(request.headers), "form": form, "payload": payload})
        if not self.signed(rid, sid, rtime, sign):
            return web.json_response({"code": "401", "msg": "签名无效"}, status=401)
        if self.next_statuses:
            return web.json_response({"code": self.next_statuses.popleft(), "msg": "接口调用失败"})
        if sid not in self.handlers:
            return web.json_response({"code": "E-106", "msg": "请求不存在于数据库授权列表中"})
        return web.json_response({self.key("msg"): "成功", self.key("code"): "1", "sign": secrets.token_hex(8),
                                  self.key("biz_data"): self.handlers[sid](payload)})

    async def soap(self, request: web.Request) -> web.Response:
        """SOAP: auth fields as header elements, `username`/`password`/`xmlInput` (Base64 MDEML) as
        arguments; the MDEML reply goes back as the escaped text of `<operation>Return`."""
        envelope = ET.fromstring(await request.read())
        header = {child.tag: child.text or "" for child in envelope.find(f"{{{SOAP}}}Header")}
        operation = envelope.find(f"{{{SOAP}}}Body")[0]
        arguments = {child.tag: child.text or "" for child in operation}
        rid, sid, rtime, sign = self.auth(header)
        xml_input = base64.b64decode(arguments["xmlInput"]).decode()
        self.seen.append({"headers": dict(request.headers), "soap_header": header, "operation": operation.tag,
                          "arguments": arguments, "payload": xml_input})
        if not self.signed(rid, sid, rtime, sign):
            return web.Response(status=401, text="签名无效")
        known = self.credentials.get(sid, {})
        if sid not in self.handlers or (arguments.get("username"), arguments.get("password")) != (
                known.get("username"), known.get("password")):
            fault = ('<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>用户名或密码错误</faultstring></soapenv:Fault>')
            return web.Response(status=500, content_type="text/xml", text=self._soap(fault))
        reply = ET.Element(f"ns1:{operation.tag}Response", {"xmlns:ns1": "http://service.wjw"})
        ET.SubElement(reply, f"{operation.tag}Return").text = self.handlers[sid](xml_input)
        return web.Response(content_type="text/xml", text=self._soap(ET.tostring(reply, encoding="unicode")))

    @staticmethod
    def _soap(body: str) -> str:
        return (f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}">'
                f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>")
