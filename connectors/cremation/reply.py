"""殡葬 火化信息 reply -> cremation records (INTERFACES.md §12.4).

Rows arrive as a bare array or under `cxjg` (provincial platform) or `rows` (national platform,
upper-case names, already lower-cased by the envelope reader); `death_time` and `cremation_time`
as `yyyy-MM-dd` or `yyyy-MM-dd HH:mm:ss`. A row about another person is BadUpstream.
"""
from __future__ import annotations

import re
from datetime import date

from connectors.base import BadUpstream
from connectors.base.wire import text_record
from connectors.cremation.types import CremationQuery, CremationRecord, CremationResult
from querynode.domain.identifiers import same_person_name, same_resident_id

DEPT = "cremation"
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})( \d{2}:\d{2}:\d{2}(\.\d+)?)?$")


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


def parse(data: object, query: CremationQuery) -> CremationResult:
    if isinstance(data, dict):
        data = data.get("cxjg", data.get("rows"))
    if not isinstance(data, list):
        raise bad("reply holds no list of records")
    return CremationResult(tuple(sorted({record(row, query) for row in data}, key=lambda r: r.died_on)))


def record(row: object, query: CremationQuery) -> CremationRecord:
    if isinstance(row, dict):  # RN, sex arrive as numbers from some platforms
        row = {k: str(v) if type(v) is int else v for k, v in row.items()}
    row = text_record(DEPT, row, ("id_card", "name", "death_time", "cremation_time"), ("sex", "address", "rn"),
                      non_empty=True)
    if not same_resident_id(row["id_card"].strip(), query.id_number) or not same_person_name(
            row["name"].strip(), query.name):
        raise bad("record is about another person")
    died, cremated = _day(row["death_time"]), _day(row["cremation_time"])
    if cremated < died or died > date.today():
        raise bad("cremation before death or a death in the future")
    return CremationRecord(died.isoformat(), cremated.isoformat())


def _day(text: str) -> date:
    match = _TIME.match(text.strip())
    if not match:
        raise bad("time is not yyyy-MM-dd[ HH:mm:ss]")
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise bad("time is not a real date") from None
