"""Mock 民政部 地名信息查询 (MZ03 / `civil_placename_query`, INTERFACES.md §10), over the
synthetic gazetteer.

Request `{"place_code": "<6位区划代码>", "standard_name": "<地名>"}` (either or both). The register
searches names loosely, as a LIKE search does: a standard name or a former name containing the
asked text. A 6-digit code gives every place inside the division (trailing `00` pairs dropped).
Reply `{"count": n, "rows": [...]}`; rows `place_code` (the 20-digit 地名代码), `standard_name`,
`roman_alphabet_spelling`, `place_type` (text), `place_meaning`, `place_origin`, `place_history`.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from mocks.gazetteer import TYPES, Place, gazetteer
from mocks.ministry import MinistryDepartment
from mocks.world import World

_DIVISION = re.compile(r"^\d{6}$")


def row(place: Place) -> dict:
    """One place as the register writes it."""
    return {
        "place_code": place.code, "standard_name": place.name, "roman_alphabet_spelling": place.roman,
        "place_type": TYPES[place.type_code][1], "place_meaning": place.meaning, "place_origin": place.origin,
        "place_history": "；".join(f"{year}年由{old}更名为{place.name}" for year, old in place.former_names),
    }


class PlaceNameDepartment(MinistryDepartment):
    name = "place_name"
    path = "/dmfw/api/placename/query"
    request_type = "MZ03"

    def __init__(self, world: World, secrets: dict[str, str]) -> None:
        self.register = gazetteer(world)
        super().__init__(world, secrets)

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"civil_placename_query": self.answer}

    def answer(self, data: dict) -> dict:
        code, name = str(data.get("place_code") or ""), str(data.get("standard_name") or "")
        if code and not _DIVISION.match(code) or not (code or name):
            return {"count": 0, "rows": []}
        found = self.register.within(code) if code else self.register.places
        if name:
            found = [p for p in found if name in p.name or any(name in old for _, old in p.former_names)]
        return {"count": len(found), "rows": [row(p) for p in found]}


def samples(world: World) -> dict:
    """Place-name searches with known outcomes (for samples.json)."""
    register = gazetteer(world)
    renamed = next(p for p in register.places if p.former_names and p.former_names[0][0] == 2015
                   and TYPES[p.type_code][1] == "街路巷")
    streets = [p for p in register.places if p.type_code == "5510" and not p.former_names]
    shared = next(p.name for p in streets if len(register.exact(p.name)) >= 3)
    unique = next(p for p in streets if len(register.exact(p.name)) == 1 and len(p.name) >= 3)
    stem = shared[:2]
    county = register.places[0]
    township = next(p for p in register.places if TYPES[p.type_code][1] == "乡级行政区域")
    return {
        "exact": [{"label": "street, unique name", "name": unique.name, "code": unique.code,
                   "division_code": unique.county_code}],
        "exact_several": [{"label": "street name used in several counties", "name": shared,
                           "count": len(register.exact(shared))}],
        "prefix": [{"label": "fuzzy prefix, several results", "name": stem, "count": len(register.prefix(stem))}],
        "division": [
            {"label": "county (GB/T 2260)", "division_code": county.county_code,
             "count": len(register.within(county.county_code))},
            {"label": "township (12-digit statistical code)", "division_code": township.township_code,
             "count": len(register.within(township.township_code))},
        ],
        "renamed": [{"label": "road renamed in 2015: the old name finds the record under its new name",
                     "old_name": renamed.former_names[0][1], "name": renamed.name, "code": renamed.code,
                     "renamed_in": 2015}],
        "not_found": [{"label": "no such place", "name": "不存在的测试路"}],
    }
