"""The GF99 结果反馈 reply (INTERFACES.md §8.2): an XML string, as the relay carries it.

    <RESOURCE><BRIEF><NUM>n</NUM></BRIEF>
      <data><t_aj><c_stm/><c_ah/><c_gshah/>
                  <t_aj_dsr><c_mc/><c_zjhm/></t_aj_dsr>...
                  <t_ws><c_nr>Base64 of the document's UTF-8 HTML</c_nr></t_ws>...</t_aj>...</data>
    </RESOURCE>

Quirks read here (§8.2, §13): the XML may arrive JSON-escaped, wrapped in an extra pair of quotes
(`\\"`, `\\n`, `\\/`); `c_nr` may carry escapes and line breaks inside its Base64; tag names are
matched without regard to case.

An empty reply (`""`) is the court not having answered yet: the query stays pending. A reply saying
`<NUM>0</NUM>` is the answer "no such case". Anything else that breaks the shape is BadUpstream: a
reply built from garbage, or a document that cannot be read, never becomes a verdict.
"""
from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from connectors.base import BadUpstream
from connectors.court.document import read
from connectors.relay.contract import unescape_text
from querynode.domain.errors import InvalidArgument
from querynode.domain.identifiers import court_case_number
from querynode.domain.model import Judgment, Party

DEPT = "court"


def parse(payload: Any) -> tuple[Judgment, ...] | None:
    """Every document of every case, as a Judgment; None while the court has not answered."""
    if payload is None:
        return None
    if not isinstance(payload, str):
        raise BadUpstream(f"{DEPT}: feedback is not XML text")
    text = unescape_text(DEPT, payload).strip().lstrip("\ufeff")
    if not text or text == '""':
        return None
    try:
        root = SafeET.fromstring(text.encode("utf-8"), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise BadUpstream(f"{DEPT}: feedback carries a DTD or entities, refused") from None
    except (ET.ParseError, ValueError):
        raise BadUpstream(f"{DEPT}: feedback is not well-formed XML") from None
    if root.tag.casefold() != "resource":
        raise BadUpstream(f"{DEPT}: feedback has no RESOURCE element")
    count = _text(_one(root, "BRIEF"), "NUM")
    data = _first(root, "data")
    cases = _all(data, "t_aj") if data is not None else []
    if not count.isdigit() or int(count) != len(cases):
        raise BadUpstream(f"{DEPT}: feedback holds a different number of cases than its BRIEF announces")
    return tuple(j for case in cases for j in _case(case))


def _case(case: ET.Element) -> list[Judgment]:
    try:
        number = court_case_number(_text(case, "c_ah"))
    except InvalidArgument:
        raise BadUpstream(f"{DEPT}: feedback carries an invalid case number") from None
    parties = [(_text(p, "c_mc"), (_value(p, "c_zjhm") or "").strip()) for p in _all(case, "t_aj_dsr")]
    if not parties:
        raise BadUpstream(f"{DEPT}: case without parties")
    documents = _all(case, "t_ws")
    if not documents:
        raise BadUpstream(f"{DEPT}: case without documents")
    out = []
    for ws in documents:
        doc = read(_document_html(_text(ws, "c_nr")), [name for name, _ in parties])
        if any(_normalised(line) != number for line in doc.case_numbers):
            raise BadUpstream(f"{DEPT}: a document of the case bears another case number")
        out.append(Judgment(
            case_number=number, court=doc.court, cause=doc.cause, decided_on=doc.decided_on,
            parties=tuple(Party(name=name, role=doc.roles[name], id_number=id_number) for name, id_number in parties),
            operative_text=doc.operative_text, document_type=doc.document_type,
        ))
    return out


def _normalised(line: str) -> str:
    try:
        return court_case_number(line)
    except InvalidArgument:
        raise BadUpstream(f"{DEPT}: a document of the case bears an invalid case number") from None


def _document_html(encoded: str) -> str:
    """c_nr: Base64 (either alphabet, lines broken or not, JSON escapes left in) of UTF-8 HTML."""
    compact = re.sub(r"\\[rn]|\\|\s", "", encoded).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadUpstream(f"{DEPT}: document text is not base64 of UTF-8 HTML") from None


# --- tags by name, whatever their case


def _all(element: ET.Element, tag: str) -> list[ET.Element]:
    folded = tag.casefold()
    return [child for child in element if isinstance(child.tag, str) and child.tag.casefold() == folded]


def _first(element: ET.Element, tag: str) -> ET.Element | None:
    found = _all(element, tag)
    return found[0] if found else None


def _one(element: ET.Element, tag: str) -> ET.Element:
    found = _first(element, tag)
    if found is None:
        raise BadUpstream(f"{DEPT}: feedback lacks {tag}")
    return found


def _value(element: ET.Element, tag: str) -> str | None:
    found = _first(element, tag)
    return None if found is None else (found.text or "")


def _text(element: ET.Element, tag: str) -> str:
    value = _value(element, tag)
    if value is None or not value.strip():
        raise BadUpstream(f"{DEPT}: feedback lacks {tag}")
    return value.strip()
