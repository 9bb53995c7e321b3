"""The court's replies: UTF-8 XML (requests and their signature: client.py):

    <Response><Head><Code>0000</Code><Msg>..</Msg><CXQQDH>..</CXQQDH></Head>
      <Body><Cases total="n"><Case><AH/><FYDM/><FYMC/><AJLX/><AY/><LARQ/>
        <DSRS><DSR><MC/><SSDW/><ZJHM/><DSRLX/></DSR>..</DSRS>
        <WSS><WS><WSLX/><WSMC/><CPRQ/><WSNR>base64 HTML</WSNR></WS>..</WSS></Case>..</Cases></Body>
    </Response>

Anything else is BadUpstream: a reply built from garbage must never become a verdict.
"""
from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from connectors.base import BadUpstream
from connectors.court.document import html_to_text, operative_part
from querynode.domain.errors import InvalidArgument
from querynode.domain.identifiers import court_case_number
from querynode.domain.model import Judgment, Party

# 诉讼地位 (role) and 文书类型 (document type) codes of the reply.
ROLES = {"01": "原告", "02": "被告", "03": "第三人", "04": "上诉人", "05": "被上诉人",
         "06": "申请执行人", "07": "被执行人", "08": "申请人", "09": "被申请人"}
DOCUMENT_TYPES = {"1": "判决书", "2": "裁定书", "3": "调解书", "4": "决定书"}

# Reply codes: ready, still working, and the refusals the court documents.
OK, NOT_READY, UNKNOWN_REQUEST = "0000", "0100", "1004"
REFUSALS = {"1001": "signature or app id refused", "1002": "request refused as malformed",
            "1003": "query request number used before"}
BUSY = {"9999": "court system busy"}



@dataclass(frozen=True)
class Reply:
    code: str
    request_number: str
    root: ET.Element


def parse(raw: bytes, content_type: str, charset: str | None) -> Reply:
    """Parse the XML envelope safely (no DTD, no entities) and read its head."""
    if content_type not in ("application/xml", "text/xml"):
        raise BadUpstream(f"court: reply is {content_type[:40] or 'untyped'}, not XML")
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise BadUpstream("court: reply is not UTF-8")
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadUpstream("court: reply carries a DTD or entities, refused") from None
    except (ET.ParseError, ValueError):
        raise BadUpstream("court: reply is not well-formed UTF-8 XML") from None
    if root.tag != "Response":
        raise BadUpstream("court: reply has no Response element")
    head = root.find("Head")
    if head is None:
        raise BadUpstream("court: reply has no Head")
    code = _text(head, "Code")
    if code not in (OK, NOT_READY, UNKNOWN_REQUEST) and code not in REFUSALS and code not in BUSY:
        raise BadUpstream("court: unknown reply code")
    return Reply(code, (head.findtext("CXQQDH") or "").strip(), root)


def judgments(reply: Reply) -> tuple[Judgment, ...]:
    """Every document of every case in a ready reply, as a Judgment."""
    cases = reply.root.find("Body/Cases")
    if cases is None:
        raise BadUpstream("court: ready reply has no Cases")
    records = cases.findall("Case")
    total = cases.get("total", "")
    if not total.isdigit() or int(total) != len(records):
        raise BadUpstream("court: reply holds a different number of cases than it announces")
    return tuple(j for case in records for j in _case(case))


def _case(case: ET.Element) -> list[Judgment]:
    try:
        number = court_case_number(_text(case, "AH"))
    except InvalidArgument:
        raise BadUpstream("court: reply carries an invalid case number") from None
    court, cause = _text(case, "FYMC"), _text(case, "AY")
    parties = tuple(_party(p) for p in case.findall("DSRS/DSR"))
    if not parties:
        raise BadUpstream("court: case without parties")
    documents = case.findall("WSS/WS")
    if not documents:
        raise BadUpstream("court: case without documents")
    out = []
    for ws in documents:
        doc_type = DOCUMENT_TYPES.get(_text(ws, "WSLX"))
        if doc_type is None:
            raise BadUpstream("court: unknown document type code")
        out.append(Judgment(
            case_number=number, court=court, cause=cause, decided_on=_date(ws, "CPRQ"), parties=parties,
            operative_text=operative_part(html_to_text(_document_html(_text(ws, "WSNR")))), document_type=doc_type,
        ))
    return out


def _party(element: ET.Element) -> Party:
    role = ROLES.get(_text(element, "SSDW"))
    if role is None:
        raise BadUpstream("court: unknown party role code")
    return Party(name=_text(element, "MC"), role=role, id_number=(element.findtext("ZJHM") or "").strip())


def _document_html(encoded: str) -> str:
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)
        return data.decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadUpstream("court: document text is not base64 of UTF-8 HTML") from None


def _date(element: ET.Element, tag: str) -> str:
    value = _text(element, tag)
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise BadUpstream("court: document date is not YYYY-MM-DD")


def _text(element: ET.Element, tag: str) -> str:
    value = element.findtext(tag)
    if value is None or not value.strip():
        raise BadUpstream(f"court: reply lacks {tag}")
    return value.strip()
