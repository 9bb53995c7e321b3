"""Death connector: the National Health Commission death medical certificate query.

One signed XML call: the head carries app key, a Shanghai-time timestamp, a nonce and
Sign = upper-case hex HMAC-SM3(secret, sorted "key=value" pairs of AppKey, Nonce, SFZH,
Timestamp, XM); the reply is XML in the encoding it declares (see `reply`).
"""
from __future__ import annotations

import secrets
from datetime import datetime
from xml.etree import ElementTree as ET

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from connectors.base import CallInfo, Connector
from connectors.base.http import check_status, client_timeout, map_errors, read_body
from connectors.base.wire import SHANGHAI
from connectors.death.reply import DEPT, parse
from querynode.domain.model import DeathQuery, DeathResult

PATH = "/nhc/swzm/query"


def sign(secret: str, fields: dict[str, str]) -> str:
    message = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
    mac = crypto_hmac.HMAC(secret.encode(), hashes.SM3())
    mac.update(message.encode())
    return mac.finalize().hex().upper()


def request_document(app_key: str, secret: str, query: DeathQuery, call: CallInfo, org_name: str) -> bytes:
    timestamp = datetime.now(SHANGHAI).strftime("%Y%m%d%H%M%S")
    nonce = secrets.token_hex(16)
    signed = {"AppKey": app_key, "Nonce": nonce, "SFZH": query.id_number, "Timestamp": timestamp, "XM": query.name}
    root = ET.Element("Request")
    head = ET.SubElement(root, "Head")
    for tag, text in (("AppKey", app_key), ("Timestamp", timestamp), ("Nonce", nonce),
                      ("Sign", sign(secret, signed)), ("OrgName", org_name), ("Operator", call.operator_id),
                      ("BusinessNo", call.case_number)):
        ET.SubElement(head, tag).text = text
    body = ET.SubElement(root, "Body")
    ET.SubElement(body, "XM").text = query.name
    ET.SubElement(body, "SFZH").text = query.id_number
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


class DeathConnector(Connector):
    department = "death"

    async def lookup(self, query: DeathQuery, call: CallInfo) -> DeathResult:
        document = request_document(self.config.app_id, self.config.secret, query, call,
                                    str(self.config.options.get("dept_name", "不动产登记中心")))
        headers = {"Content-Type": "application/xml; charset=utf-8", "X-Request-Id": call.request_id}
        async with map_errors(DEPT):
            async with self.session.post(PATH, data=document, headers=headers, timeout=client_timeout(call)) as resp:
                check_status(DEPT, resp)
                raw = await read_body(DEPT, resp, self.config.max_reply_bytes)
        return parse(raw, query)
