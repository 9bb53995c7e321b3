"""卫健委 死亡医学证明 reply -> the person's death, if any (INTERFACES.md §11).

Two documented shapes of one dataset:
- MDEML XML (§11.1; national platform SOAP, Hefei OpenAPI): `<MDEML><resultinfo><success>0</success>
  <message/></resultinfo><body><data>…</data><data>…</data></body></MDEML>`, a LIST of `<data>`;
- the provincial `zw_nhcprc_death-cert` (§11.2): `cxjg`, an array of the same records as JSON.
A record: `GMSFHM` 公民身份号码 (the response key; the request says GMSFZH), `XM`, `XBDM` 性别代码,
`MZDM` 民族代码, `SWYY` 死亡原因 (free text, not kept), `SWRQ` 死亡日期 (format undocumented:
yyyy-MM-dd, yyyyMMdd or with a time). Field names in any case; `resultinfo` matched leniently
(gtmap's alias carries a trailing space); the XML may arrive JSON-escaped or HTML-escaped (§13).

Every record must be about the person asked; several records must agree on the date. Anything
else (an unknown success flag, a record of someone else, two dates) is BadUpstream: the check
is left to a person, never read as "no death".
"""
from __future__ import annotations

import html
import re
from datetime import date, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from connectors.base import BadUpstream
from connectors.base.wire import SHANGHAI
from connectors.relay.contract import unescape_text
from querynode.domain.identifiers import same_resident_id
from querynode.domain.model import DeathQuery, DeathRecord, DeathResult
from querynode.domain.names import same_name

DEPT = "death"
SUCCESS = "0"
SEX_CODES = {"0", "1", "2", "9"}  # GB/T 2261.1
ETHNICITY_CODES = {f"{n:02d}" for n in range(1, 57)} | {"97", "98"}  # GB 3304
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_DAY = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
MAX_TEXT = 200


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(data: object, query: DeathQuery) -> DeathResult:
    if isinstance(data, str):
        records = mdeml_records(data)
    elif isinstance(data, list):
        records = [json_record(r) for r in data]
    elif isinstance(data, dict) and isinstance(data.get("cxjg"), list):
        records = [json_record(r) for r in data["cxjg"]]
    else:
        raise bad("reply is neither MDEML XML nor a list of records")
    days = {death_day(record, query) for record in records}
    if len(days) > 1:
        raise bad("records give different dates of death")
    return DeathResult(DeathRecord(days.pop().isoformat()) if days else None)


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if child.tag.strip().lower() == name]


def mdeml_records(text: str) -> list[dict[str, str]]:
    """The `<data>` records of an MDEML reply whose resultinfo says success."""
    text = unescape_text(DEPT, text).strip()
    if text.startswith("&lt;"):
        text = html.unescape(text)
    try:
        root = fromstring(_DECLARATION.sub("", text, count=1))
    except (ParseError, DefusedXmlException, ValueError):
        raise bad("reply is not well-formed XML") from None
    if root.tag.strip().upper() != "MDEML":
        raise bad("reply is not an MDEML document")
    info = _children(root, "resultinfo")
    success = [(c.text or "").strip() for i in info for c in _children(i, "success")]
    if len(success) != 1:
        raise bad("MDEML reply has no resultinfo success flag")
    if success[0] != SUCCESS:
        raise bad(f"MDEML reply not successful (success {success[0][:8]!r})")
    bodies = _children(root, "body")
    if len(bodies) > 1:
        raise bad("MDEML reply has several bodies")
    out = []
    for record in (d for b in bodies for d in _children(b, "data")):
        fields: dict[str, str] = {}
        for child in record:
            if len(child):
                raise bad("record field is not text")
            fields[child.tag.strip().lower()] = (child.text or "").strip()
        out.append(fields)
    return out


def json_record(row: object) -> dict[str, str]:
    if not isinstance(row, dict):
        raise bad("record is not an object")
    fields = {}
    for key, value in row.items():
        if type(value) is int:  # codes arrive as numbers from some platforms
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise bad("record field is not text")
        fields[str(key).strip().lower()] = (value or "").strip()
    return fields


def death_day(record: dict[str, str], query: DeathQuery) -> date:
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in record.values()):
        raise bad("record field too long or with control characters")
    number, name, day = record.get("gmsfhm", ""), record.get("xm", ""), record.get("swrq", "")
    if not number or not name or not day:
        raise bad("record lacks GMSFHM, XM or SWRQ")
    if not same_resident_id(number, query.id_number) or not same_name(name, query.name):
        raise bad("record is about another person")
    sex, ethnicity = record.get("xbdm", ""), record.get("mzdm", "")
    if sex and (sex not in SEX_CODES or sex in ("1", "2") and int(query.id_number[16]) % 2 != (sex == "1")):
        raise bad("unknown or inconsistent sex code")
    if ethnicity and ethnicity.zfill(2) not in ETHNICITY_CODES:
        raise bad("unknown ethnicity code")
    match = _DAY.match(day)
    try:
        if not match:
            raise ValueError
        died = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        born = date(int(query.id_number[6:10]), int(query.id_number[10:12]), int(query.id_number[12:14]))
    except ValueError:
        raise bad("SWRQ is not a date") from None
    if died < born or died > datetime.now(SHANGHAI).date():
        raise bad("date of death before the birth date or in the future")
    return died
