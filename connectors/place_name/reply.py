"""MZ03 reply `{count, rows[]}` (INTERFACES.md §10; field names already lower case) -> domain places.

A row carries `place_code` (the 20-digit 地名代码, its first 6 digits the county), `standard_name`,
`roman_alphabet_spelling`, `place_type` (地名类别 as text, e.g. 河流), `place_meaning`,
`place_origin` and `place_history` (历史沿革, text). No coordinates, no type code and no division
name travel: those fields of the domain record stay empty.

The register's name search may be broader than asked (a register searches as it likes): rows
whose name does not answer the query (exact name, a name starting with the prefix, or a former
name the 历史沿革 cites) are left out. A row outside the asked division is an answer about another
place: BadUpstream, as is anything outside the documented shape. Messages never quote the reply.
"""
from __future__ import annotations

import re

from connectors.base import BadUpstream
from connectors.base.wire import text_record
from querynode.domain.model import PlaceName, PlaceNameQuery, PlaceNameResult

DEPT = "place_name"
REQUIRED = ("place_code", "standard_name")
OPTIONAL = ("roman_alphabet_spelling", "place_type", "place_meaning", "place_origin", "place_history")
MAX_TEXT = 2000
_PLACE_CODE = re.compile(r"^\d{20}$")


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(data: object, query: PlaceNameQuery) -> PlaceNameResult:
    if not isinstance(data, dict):
        raise bad("reply data is not an object")
    count, rows = data.get("count"), data.get("rows")
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count)  # some relays send numbers as text
    if type(count) is not int or not isinstance(rows, list):
        raise bad("count or rows missing or of the wrong type")
    if count < len(rows):
        raise bad("count and rows disagree")
    places = [p for p in (place(row, query) for row in rows) if answers(p, query)]
    if len({p.code for p in places}) != len(places):
        raise bad("place repeated in the reply")
    return PlaceNameResult(tuple(places[:query.limit]))


def place(row: object, query: PlaceNameQuery) -> PlaceName:
    row = text_record(DEPT, row, REQUIRED, OPTIONAL, non_empty=True)
    text = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in text.values()):
        raise bad("text field too long or with control characters")
    code = text["place_code"]
    if not _PLACE_CODE.match(code):
        raise bad("place code is not 20 digits")
    if query.division_code and not code.startswith(significant(query.division_code[:6])):
        raise bad("row does not match the query (a place outside the division)")
    meaning = "；".join(part for part in (text["place_meaning"],
                                         f"来历：{text['place_origin']}" if text["place_origin"] else "") if part)
    return PlaceName(
        name=text["standard_name"], roman=text["roman_alphabet_spelling"], place_type=text["place_type"],
        place_type_code="", code=code, division_code=code[:6], division_name="", longitude=0.0, latitude=0.0,
        meaning=meaning, history=(text["place_history"],) if text["place_history"] else (),
    )


def significant(division: str) -> str:
    """A division code without its trailing zero groups: 110000 -> 11, 110105001000 -> 110105001."""
    return re.sub(r"(000)+$" if len(division) == 12 else r"(00)+$", "", division)


def answers(p: PlaceName, query: PlaceNameQuery) -> bool:
    """Whether a row answers the query: the division (a 12-digit township narrows the county the
    request named), or the name, exactly or as a prefix, as standard name or a former name cited
    in the 历史沿革."""
    if query.division_code:
        return p.code.startswith(significant(query.division_code))
    asked, history = query.name or "", "".join(p.history)
    if query.prefix:
        return p.name.startswith(asked) or asked in history
    return p.name == asked or asked in history
