"""Place-name register replies -> domain PlaceName records.

Anything outside the protocol is BadUpstream; messages say what broke, never quote the reply.
"""
from __future__ import annotations

import math
import re

from connectors.base import BadUpstream, Rejected, Unavailable
from connectors.base.wire import json_object, text_record
from querynode.domain.model import PlaceName, PlaceNameQuery, PlaceNameResult

DEPT = "place_name"

# Type codes the register uses (GB/T 18521 pattern, practice) -> the category it names.
CATEGORIES = {
    "1130": "行政区域",
    "1140": "行政区域",
    "4110": "居民点",
    "4120": "居民点",
    "5510": "街路巷",
}
# Application error codes, sent with HTTP 200.
REFUSALS = {40001: "request parameters refused", 40101: "API key refused"}
BUSY = {50301}

TEXT_FIELDS = ("dmdm", "bzmc", "lmpy", "dmlb", "dmlbdm", "xzqhdm", "xzqhmc")
OPTIONAL_TEXT = ("xzdm", "xzmc", "dmhy", "dmly")
MAX_TEXT = 2000
_PLACE_CODE = re.compile(r"^\d{20}$")
_COUNTY = re.compile(r"^\d{6}$")
_TOWNSHIP = re.compile(r"^\d{12}$")
_ROMAN = re.compile(r"^[A-Za-zÀ-ÿāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü' \-·]+$")
# China's extent in WGS 84, generously: a point outside it is not a Chinese place.
LONGITUDE = (73.0, 136.0)
LATITUDE = (3.0, 54.0)


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(raw: bytes, query: PlaceNameQuery) -> PlaceNameResult:
    reply = json_object(DEPT, raw)
    code = reply.get("errcode")
    if type(code) is not int:
        raise bad("reply has no integer errcode")
    if code in BUSY:
        raise Unavailable(f"{DEPT}: department in maintenance (errcode {code})")
    if code in REFUSALS:
        raise Rejected(f"{DEPT}: {REFUSALS[code]} (errcode {code})")
    if code != 0:
        raise bad("unknown errcode")
    total, rows = reply.get("total"), reply.get("rows")
    if type(total) is not int or total < 0 or not isinstance(rows, list):
        raise bad("total or rows missing or of the wrong type")
    if len(rows) != min(total, query.limit):
        raise bad("number of rows disagrees with total and limit")
    places = tuple(place(r, query) for r in rows)
    if len({p.code for p in places}) != len(places):
        raise bad("place repeated in the reply")
    return PlaceNameResult(places)


def place(row: object, query: PlaceNameQuery) -> PlaceName:
    row = text_record(DEPT, row, TEXT_FIELDS, OPTIONAL_TEXT, non_empty=True)
    text = {k: row.get(k) or "" for k in (*TEXT_FIELDS, *OPTIONAL_TEXT)}
    if any(len(v) > MAX_TEXT or not v.isprintable() for v in text.values()):
        raise bad("text field too long or with control characters")
    code, county, township = text["dmdm"], text["xzqhdm"], text["xzdm"]
    if not _PLACE_CODE.match(code) or not _COUNTY.match(county) or not code.startswith(county):
        raise bad("place or division code malformed")
    if township and (not _TOWNSHIP.match(township) or not code.startswith(township)):
        raise bad("township code malformed")
    if CATEGORIES.get(text["dmlbdm"]) is None or code[12:16] != text["dmlbdm"]:
        raise bad("unknown place type code")
    if CATEGORIES[text["dmlbdm"]] != text["dmlb"]:
        raise bad("place type disagrees with its code")
    if not _ROMAN.match(text["lmpy"]):
        raise bad("roman spelling is not Latin letters")
    former = former_names(row.get("cym", []))
    _check_matches(query, text["bzmc"], [old for _, old in former], code)
    longitude, latitude = point(row.get("geometry"))
    meaning = "；".join(part for part in (text["dmhy"], f"来历：{text['dmly']}" if text["dmly"] else "") if part)
    return PlaceName(
        name=text["bzmc"], roman=text["lmpy"], place_type=text["dmlb"], place_type_code=text["dmlbdm"], code=code,
        division_code=county, division_name=text["xzqhmc"] + text["xzmc"], longitude=longitude, latitude=latitude,
        meaning=meaning, history=tuple(f"{year}年 由 {old} 更名" for year, old in former),
    )


def former_names(value: object) -> list[tuple[int, str]]:
    """cym: [{"mc": old name, "bgnf": year changed}] -> [(year, old name)], oldest first."""
    if not isinstance(value, list):
        raise bad("former names are not a list")
    out = []
    for entry in value:
        name, year = (entry.get("mc"), entry.get("bgnf")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or not name or len(name) > 100 or not name.isprintable():
            raise bad("former name is not text")
        if type(year) is not int or not 1000 <= year <= 2100:
            raise bad("year of a former name is not a plausible year")
        out.append((year, name))
    return sorted(out)


def point(geometry: object) -> tuple[float, float]:
    """A GeoJSON Point inside China -> (longitude, latitude)."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise bad("geometry is not a GeoJSON Point")
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) != 2 or \
            any(type(c) not in (int, float) or not math.isfinite(c) for c in coordinates):
        raise bad("point coordinates are not two numbers")
    longitude, latitude = (float(c) for c in coordinates)
    if not (LONGITUDE[0] <= longitude <= LONGITUDE[1] and LATITUDE[0] <= latitude <= LATITUDE[1]):
        raise bad("point lies outside China")
    return longitude, latitude


def _check_matches(query: PlaceNameQuery, name: str, former: list[str], code: str) -> None:
    """A row that does not answer the query would be an answer about another place."""
    if query.name:
        names = [name, *former]
        ok = any(n.startswith(query.name) for n in names) if query.prefix else query.name in names
    else:
        asked = query.division_code or ""
        ok = code[:12].startswith(re.sub(r"(000)+$" if len(asked) == 12 else r"(00)+$", "", asked))
    if not ok:
        raise bad("row does not match the query")
