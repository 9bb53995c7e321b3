"""The death department's XML reply: declared encoding, head code, and a strict record.

The department declares its encoding in the XML declaration (GBK in practice); expat does
not read multi-byte Chinese encodings, so the body is decoded here, strictly, and parsed as
text. The record must be about the person asked (ID number and name), with known sex and
ethnicity codes, an ICD-10 cause and a date of death not before the birth date.
"""
from __future__ import annotations

import re
from datetime import date
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.base import BadUpstream, Rejected, Unavailable
from querynode.domain.model import DeathQuery, DeathRecord, DeathResult
from querynode.domain.names import same_name

DEPT = "death"
FOUND, NO_RECORD, NAME_MISMATCH, SIGN_REFUSED, BAD_REQUEST, BUSY = "00", "01", "02", "10", "11", "99"
ENCODINGS = {"gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030", "utf-8": "utf-8"}
SEX_CODES = {"0", "1", "2", "9"}  # GB/T 2261.1
ETHNICITY_CODES = {f"{n:02d}" for n in range(1, 57)} | {"97", "98"}  # GB 3304
_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"'][^>]*\?>")
_TEXT_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_ICD10 = re.compile(r"^[A-Z]\d{2}(?:\.[0-9A-Z]{1,2})?$")
_CERTIFICATE = re.compile(r"^[0-9A-Za-z-]{4,40}$")


def decode(raw: bytes) -> str:
    """The body as text, per its XML declaration (UTF-8 without one), declaration removed."""
    match = _DECLARATION.match(raw)
    encoding = match.group(1).decode().lower() if match else "utf-8"
    if encoding not in ENCODINGS:
        raise BadUpstream(f"{DEPT}: reply declares an unsupported encoding")
    try:
        text = raw.decode(ENCODINGS[encoding])
    except UnicodeDecodeError:
        raise BadUpstream(f"{DEPT}: reply is not valid {encoding}") from None
    return _TEXT_DECLARATION.sub("", text, count=1)


def _element(raw: bytes) -> Element:
    text = decode(raw)
    try:
        root = fromstring(text)
    except (ParseError, DefusedXmlException, ValueError):
        raise BadUpstream(f"{DEPT}: reply is not well-formed XML") from None
    if root.tag != "Response":
        raise BadUpstream(f"{DEPT}: reply is not a Response document")
    return root


def _field(record: Element, tag: str) -> str:
    found = record.findall(tag)
    if len(found) != 1 or len(found[0]) or not (found[0].text or "").strip():
        raise BadUpstream(f"{DEPT}: record field {tag} missing or malformed")
    return found[0].text.strip()


def parse(raw: bytes, query: DeathQuery) -> DeathResult:
    root = _element(raw)
    code = root.findtext("Head/Code")
    if code == NO_RECORD:
        return DeathResult(record=None)
    if code == NAME_MISMATCH:
        # Not "no record": the number has a certificate under another name. Let a person decide.
        raise Rejected(f"{DEPT}: name and ID number do not belong to the same certificate")
    if code == BUSY:
        raise Unavailable(f"{DEPT}: department busy")
    if code in (SIGN_REFUSED, BAD_REQUEST):
        raise Rejected(f"{DEPT}: request refused (code {code})")
    if code != FOUND:
        raise BadUpstream(f"{DEPT}: unknown reply code")
    records = root.findall("Body/Record")
    if len(records) != 1:
        raise BadUpstream(f"{DEPT}: found-reply must hold exactly one record")
    record = records[0]
    if _field(record, "SFZH").upper() != query.id_number or not same_name(_field(record, "XM"), query.name):
        raise BadUpstream(f"{DEPT}: reply is about another person")
    sex = _field(record, "XB")
    if sex not in SEX_CODES or sex in ("1", "2") and int(query.id_number[16]) % 2 != (sex == "1"):
        raise BadUpstream(f"{DEPT}: unknown or inconsistent sex code")
    if _field(record, "MZ") not in ETHNICITY_CODES:
        raise BadUpstream(f"{DEPT}: unknown ethnicity code")
    cause = _field(record, "SWYYDM")
    if not _ICD10.match(cause):
        raise BadUpstream(f"{DEPT}: cause is not an ICD-10 code")
    try:
        died_on = date.fromisoformat(_field(record, "SWRQ"))
        born = date(int(query.id_number[6:10]), int(query.id_number[10:12]), int(query.id_number[12:14]))
    except ValueError:
        raise BadUpstream(f"{DEPT}: date of death is not a YYYY-MM-DD date") from None
    if len(_field(record, "SWRQ")) != 10 or died_on < born:
        raise BadUpstream(f"{DEPT}: date of death is malformed or before the birth date")
    certificate = _field(record, "ZMBH")
    if not _CERTIFICATE.match(certificate):
        raise BadUpstream(f"{DEPT}: certificate number malformed")
    issuer = _field(record, "QFJG")
    if len(issuer) > 100:
        raise BadUpstream(f"{DEPT}: issuer malformed")
    return DeathResult(DeathRecord(died_on=died_on.isoformat(), certificate_number=certificate,
                                   issuer=issuer, cause_code=cause))
