"""Relay D: the national data-sharing platform (国家数据共享交换平台; INTERFACES.md §4).

Each service has its own credential: `rid` (who asks), `sid` (which service), `appkey`. Before
calling, the node fetches a service secret: it signs sid+rid+rtime with HMAC-SHA256 keyed by the
appkey and receives `data.secret`, AES-encrypted under a key Java derives from the appkey. The
secret is cached until `secretEndTime`. Business calls carry `<prefix>_rid/sid/rtime/sign`
headers; which sign the platform wants differs between deployments, so configuration chooses:

* `hmac` (documented variant): Base64(HMAC-SHA256(key = secret, sid+rid+rtime));
* `secret`: the decrypted secret itself, as gtmap sends it.

Business calls are a REST form to `/httpproxy` (民政 and most services), or, for the 卫健委 certificates,
a SOAP call to `/wsproxy` whose `xmlInput` is Base64 of the MDEML request and whose return value is the
MDEML reply as text (§4.3). A business call the platform refuses with HTTP 401/403 (signature or
secret no longer valid) renews the secret once and resends once.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from connectors.base.contract import CallInfo
from connectors.base.errors import BadUpstream, PermissionDenied, Rejected
from connectors.relay.contract import HttpRequest, Relay, RelayConfig, RelayReply, Service, field_of
from connectors.base.wire import json_object

NAME = "国家共享平台"
SECRET_OK = "0"
CALL_OK = "1"
NOT_AUTHORISED = frozenset({"-1", "E-106"})  # requester not in the authorisation list
DEFAULT_SECRET_LIFETIME_MS = 30 * 60 * 1000  # when the platform gives no secretEndTime
RENEW_MARGIN_MS = 60 * 1000
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_OPERATIONS = {Service.DEATH_CERTIFICATE: "getSwyxzmInfo"}  # service -> operation on /wsproxy
ET.register_namespace("soapenv", SOAP_ENV)


class SignatureRefused(Rejected):
    """The platform refused the business call's signature (HTTP 401/403)."""


@dataclass(frozen=True)
class ServiceCredential:
    rid: str  # 请求者身份标识
    sid: str  # 服务编码
    appkey: str  # 服务授权码
    username: str = ""  # business login of the SOAP (卫健委) services
    password: str = ""


@dataclass(frozen=True)
class NationalConfig(RelayConfig):
    credentials: dict[Service, ServiceCredential] = field(default_factory=dict)
    sign_variant: Literal["hmac", "secret"] = "hmac"
    prefix: str = "gjgxjhpt"  # header names: gjgxjhpt_* (or gjzwfwpt_* on the 政务服务 platform)
    secret_path: str = "/sysapi/auth/refreshappsecret"
    business_path: str = "/httpproxy"
    soap_path: str = "/wsproxy"


@dataclass(frozen=True)
class Secret:
    value: str
    ends_ms: int


def hmac_sign(key: str, sid: str, rid: str, rtime: str) -> str:
    """Base64(HMAC-SHA256(key, sid + rid + rtime)), standard alphabet with padding."""
    digest = hmac.new(key.encode("utf-8"), (sid + rid + rtime).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def java_aes_key(appkey: str) -> bytes:
    """The key Java's `KeyGenerator("AES").init(128, SHA1PRNG seeded with appkey)` produces: a freshly
    seeded Sun SHA1PRNG's first output is SHA-1(SHA-1(seed)); 128 bits take its first 16 bytes
    (checked against OpenJDK output in the tests)."""
    return hashlib.sha1(hashlib.sha1(appkey.encode("utf-8")).digest()).digest()[:16]


def open_secret(appkey: str, text: str) -> str:
    """Decrypt `data.secret`: Base64, AES/ECB/PKCS5Padding under the appkey-derived key."""
    try:
        ciphertext = base64.b64decode(text, validate=True)
        decryptor = Cipher(algorithms.AES(java_aes_key(appkey)), modes.ECB()).decryptor()
        unpadder = symmetric_padding.PKCS7(128).unpadder()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (binascii.Error, ValueError):  # bad Base64, not whole blocks, bad padding, not UTF-8
        raise BadUpstream(f"{NAME}: the secret does not open with this appkey") from None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class NationalRelay(Relay):
    name = NAME
    codes: dict[Service, str] = {}

    def __init__(self, config: NationalConfig) -> None:
        if config.sign_variant not in ("hmac", "secret"):
            raise ValueError(f"{NAME}: sign_variant is 'hmac' or 'secret'")
        super().__init__(config)
        self.config: NationalConfig = config
        self.secrets: dict[str, Secret] = {}
        self._secret_lock = asyncio.Lock()

    def code_for(self, service: Service) -> str:
        return self.credential(service).sid

    def credential(self, service: Service) -> ServiceCredential:
        try:
            return self.config.credentials[service]
        except KeyError:
            raise ValueError(f"{NAME} has no credential for the service {service}") from None

    def auth_fields(self, credential: ServiceCredential, sign: str, rtime: str) -> dict[str, str]:
        p = self.config.prefix
        return {f"{p}_rid": credential.rid, f"{p}_sid": credential.sid, f"{p}_rtime": rtime, f"{p}_sign": sign}

    async def exchange(self, service: Service, payload: Any, call: CallInfo) -> RelayReply:
        credential = self.credential(service)
        used = await self.secret(credential, call, stale="")
        try:
            return await super().exchange(service, payload, call)
        except SignatureRefused:
            await self.secret(credential, call, stale=used)
            return await super().exchange(service, payload, call)  # a second refusal propagates

    async def secret(self, credential: ServiceCredential, call: CallInfo, stale: str) -> str:
        """The service's current secret; fetched when missing, about to end, or equal to `stale`."""
        async with self._secret_lock:
            cached = self.secrets.get(credential.sid)
            if cached and cached.value != stale and now_ms() < cached.ends_ms - RENEW_MARGIN_MS:
                return cached.value
            rtime = str(now_ms())
            sign = hmac_sign(credential.appkey, credential.sid, credential.rid, rtime)
            request = HttpRequest(self.config.secret_path, {"Content-Type": "application/json; charset=UTF-8"},
                                  json=self.auth_fields(credential, sign, rtime))
            reply = json_object(NAME, await self.post(request, call))
            code = str(field_of(reply, "code")).strip()
            if code in NOT_AUTHORISED:
                raise PermissionDenied(f"{NAME}: requester not authorised for the service (code {code})")
            data = field_of(reply, "data")
            encrypted = field_of(data, "secret") if isinstance(data, dict) and code == SECRET_OK else None
            if not isinstance(encrypted, str) or not encrypted:
                raise BadUpstream(f"{NAME}: secret refresh failed (code {code[:8]!r})")
            ends = str(field_of(data, "secretEndTime") or "").strip()
            ends_ms = int(ends) if ends.isdigit() else now_ms() + DEFAULT_SECRET_LIFETIME_MS
            self.secrets[credential.sid] = Secret(open_secret(credential.appkey, encrypted), ends_ms)
            return self.secrets[credential.sid].value

    async def egress(self, service: Service, payload: Any, call: CallInfo) -> HttpRequest:
        credential = self.credential(service)
        secret = self.secrets[credential.sid].value
        rtime = str(now_ms())
        sign = hmac_sign(secret, credential.sid, credential.rid, rtime) if self.config.sign_variant == "hmac" else secret
        auth = self.auth_fields(credential, sign, rtime)
        if service in SOAP_OPERATIONS:
            return self.soap_request(SOAP_OPERATIONS[service], credential, auth, payload)
        form = {"access_key": credential.appkey, "format": "json", "request_id": uuid.uuid4().hex,
                "sign": sign, "timestamp": "", "version": "1.0"}
        if service is Service.CREMATION_QUERY and isinstance(payload, dict):
            form |= {key: str(value) for key, value in payload.items()} | auth  # 殡葬: plain fields
        else:
            form["biz_content"] = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return HttpRequest(self.config.business_path, auth, form=form)

    def soap_request(self, operation: str, credential: ServiceCredential, auth: dict[str, str], xml: Any) -> HttpRequest:
        """The SOAP call: auth fields as header elements (and HTTP headers), MDEML as Base64 `xmlInput`."""
        if not isinstance(xml, str):
            raise ValueError(f"{NAME}: a SOAP service carries its request as XML text")
        envelope = ET.Element(f"{{{SOAP_ENV}}}Envelope")
        header = ET.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
        for name, value in auth.items():
            ET.SubElement(header, name).text = value
        call = ET.SubElement(ET.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), operation)
        arguments = {"username": credential.username, "password": credential.password,
                     "xmlInput": base64.b64encode(xml.encode("utf-8")).decode("ascii")}
        for name, value in arguments.items():
            ET.SubElement(call, name).text = value
        body = ET.tostring(envelope, encoding="unicode")
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""', **auth}
        return HttpRequest(self.config.soap_path, headers, text=body)

    def check_http(self, response: aiohttp.ClientResponse) -> None:
        if response.status in (401, 403):
            raise SignatureRefused(f"{NAME}: signature refused (HTTP {response.status})")
        super().check_http(response)

    def ingress(self, service: Service, body: bytes) -> RelayReply:
        if service in SOAP_OPERATIONS:
            return RelayReply(soap_return(body))
        reply = json_object(NAME, body)
        code = str(field_of(reply, "code")).strip()
        if code in NOT_AUTHORISED:
            raise PermissionDenied(f"{NAME}: requester not authorised for the service (code {code})")
        if code != CALL_OK:
            raise BadUpstream(f"{NAME}: unknown code {code[:8]!r}")
        payload = field_of(reply, "biz_data")
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                raise BadUpstream(f"{NAME}: biz_data is broken JSON") from None
        if not isinstance(payload, dict | list):
            raise BadUpstream(f"{NAME}: reply has no biz_data")
        return RelayReply(payload)


def soap_return(body: bytes) -> str:
    """The text of the SOAP reply's return value (the MDEML reply XML); a fault or anything else is BadUpstream."""
    try:
        envelope = SafeET.fromstring(body)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise BadUpstream(f"{NAME}: SOAP reply is not XML") from None
    reply = envelope.find(f"{{{SOAP_ENV}}}Body/*")
    if reply is None or reply.tag == f"{{{SOAP_ENV}}}Fault":
        raise BadUpstream(f"{NAME}: SOAP reply is a fault or empty")
    value = next(iter(reply), None)
    if value is None or not (value.text or "").strip():
        raise BadUpstream(f"{NAME}: SOAP reply has no return value")
    return value.text
