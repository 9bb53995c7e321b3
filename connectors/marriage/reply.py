"""MZ01 reply `{count, rows}` (INTERFACES.md §9.1) -> the acts of the person asked and the status
they give.

Rows: `op_type op_date dept_code dept_name cert_no name_* cert_num_* birth_* nation_*` (man and
woman), dates `yyyy-MM-dd HH:mm:ss` (always 00:00:00), `dept_code` 8 digits, `nation_*` ISO 3166
numeric (156 中国, 344 香港, 446 澳门, 158 台湾). The department does not order the rows.

Status comes from the latest act that changes it (IA marriage, IB divorce, ID annulment);
reissued certificates (IC, ICA, ICB) change nothing, and count only when no such act is on
record (older registrations sometimes exist only as a reissue; a generic IC tells marriage from
divorce by its certificate prefix, BJ/J or BL/L). An op_type the node does not know (IA1, INR ...)
is kept as an opaque act and never guessed into a status: when the status would depend on it
(it is not older than the act that decides), the answer is left to a person (BadUpstream,
SOURCE_UNAVAILABLE). Anything else outside the protocol is BadUpstream too: a wrong status is
worse than none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from connectors.base import BadUpstream
from querynode.domain.identifiers import same_resident_id
from querynode.domain.model import MaritalStatus, MarriageAct, MarriageQuery, MarriageRecord, MarriageResult
from querynode.domain.names import same_name

DEPT = "marriage"
KNOWN = {a.value: a for a in MarriageAct if a is not MarriageAct.OTHER}
CHANGES_STATUS = {MarriageAct.MARRIAGE: MaritalStatus.MARRIED, MarriageAct.DIVORCE: MaritalStatus.DIVORCED,
                  MarriageAct.ANNULMENT: MaritalStatus.ANNULLED}
REISSUE_STATUS = {MarriageAct.REISSUE_MARRIAGE: MaritalStatus.MARRIED,
                  MarriageAct.REISSUE_DIVORCE: MaritalStatus.DIVORCED}
# A generic reissue (IC) tells marriage from divorce only by its certificate prefix.
CERTIFICATE_STATUS = (("BJ", MaritalStatus.MARRIED), ("BL", MaritalStatus.DIVORCED),
                      ("J", MaritalStatus.MARRIED), ("L", MaritalStatus.DIVORCED))
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?: \d{2}:\d{2}:\d{2}(?:\.\d+)?)?$")
_DEPT_CODE = re.compile(r"^\d{8}$")
_NATION = re.compile(r"^\d{3}$")
_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_OP_TYPE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
MAX_TEXT = 100


def bad(what: str) -> BadUpstream:
    return BadUpstream(f"{DEPT}: {what}")


@dataclass(frozen=True)
class Party:
    name: str
    id_number: str


@dataclass(frozen=True)
class Act:
    act: MarriageAct
    op_type: str
    registered_on: date
    office_code: str
    office_name: str
    certificate_number: str
    man: Party
    woman: Party

    def involves(self, id_number: str) -> bool:
        return any(same_resident_id(p.id_number, id_number) for p in (self.man, self.woman))

    def own(self, id_number: str) -> Party:
        return self.man if same_resident_id(self.man.id_number, id_number) else self.woman

    def other(self, id_number: str) -> Party:
        return self.woman if same_resident_id(self.man.id_number, id_number) else self.man


def _text(row: dict, key: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if type(value) is int and not required:  # codes arrive as numbers from some relays
        value = str(value)
    if not isinstance(value, str) or len(value.strip()) > max_len or not value.isprintable() \
            or (required and not value.strip()):
        raise bad(f"row field {key} missing or malformed")
    return value.strip()


def _day(row: dict, key: str, *, required: bool = True) -> date | None:
    text = _text(row, key, required=required, max_len=30)
    if not text and not required:
        return None
    match = _TIME.match(text)
    try:
        if not match:
            raise ValueError
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise bad(f"row field {key} is not a yyyy-MM-dd HH:mm:ss date") from None


def _party(row: dict, side: str) -> Party:
    number = _text(row, f"cert_num_{side}", max_len=40).upper()
    _day(row, f"birth_{side}", required=False)
    nation = _text(row, f"nation_{side}", required=False, max_len=3)
    if nation and not _NATION.match(nation):
        raise bad(f"row field nation_{side} is not an ISO 3166 numeric code")
    return Party(_text(row, f"name_{side}", max_len=64), number)


def parse_act(row: object) -> Act:
    if not isinstance(row, dict):
        raise bad("row is not an object")
    op_type = _text(row, "op_type", max_len=8).upper()
    if not _OP_TYPE.match(op_type):
        raise bad("row field op_type malformed")
    office_code = _text(row, "dept_code", required=False, max_len=8)
    if office_code and not _DEPT_CODE.match(office_code):
        raise bad("row field dept_code is not an 8-digit office code")
    registered_on = _day(row, "op_date")
    assert registered_on is not None
    return Act(KNOWN.get(op_type, MarriageAct.OTHER), op_type, registered_on, office_code,
               _text(row, "dept_name", required=False), _text(row, "cert_no", required=False, max_len=40),
               _party(row, "man"), _party(row, "woman"))


def rows_of(data: object) -> list:
    """The rows of `{count, rows}`; `count` (or the national platform's `recordcount`) must agree."""
    if not isinstance(data, dict) or not isinstance(data.get("rows", []), list):
        raise bad("reply is not {count, rows}")
    rows = data.get("rows") or []
    counts = [data[k] for k in ("count", "recordcount") if k in data]
    if not counts:
        raise bad("reply has no count")
    if any((int(c) if isinstance(c, str) and c.strip().isdigit() else c) != len(rows) or type(c) is bool
           for c in counts):
        raise bad("row count does not match the rows")
    return rows


def current(acts: list[Act], id_number: str) -> tuple[MaritalStatus, Party | None]:
    """Status of the person and, when married, the spouse, from the person's acts (oldest first)."""
    deciding = [a for a in acts if a.act in CHANGES_STATUS]
    reissues = [a for a in acts if a.act in REISSUE_STATUS or a.act is MarriageAct.REISSUE]
    if deciding:
        latest = deciding[-1]
        status = CHANGES_STATUS[latest.act]
    elif reissues:
        latest = reissues[-1]
        status = REISSUE_STATUS.get(latest.act) or next(
            (s for prefix, s in CERTIFICATE_STATUS if latest.certificate_number.upper().startswith(prefix)), None)
        if status is None:
            raise bad("reissue without a known certificate kind: status left to a person")
    else:
        latest, status = None, MaritalStatus.NO_RECORD
    if any(a.act is MarriageAct.OTHER and (latest is None or a.registered_on >= latest.registered_on) for a in acts):
        raise bad("an op_type the node does not know may change the status: status left to a person")
    if status is MaritalStatus.MARRIED and latest is not None:
        return status, latest.other(id_number)
    return status, None


def parse(data: object, query: MarriageQuery) -> MarriageResult:
    """The MZ01 reply for one person; every row must concern that person."""
    acts = [parse_act(row) for row in rows_of(data)]
    if any(not a.involves(query.id_number) for a in acts):
        raise bad("reply holds a row of a person not asked about")
    acts.sort(key=lambda a: a.registered_on)  # stable: same-day rows keep reply order
    status, spouse = current(acts, query.id_number)
    records = tuple(
        MarriageRecord(
            act=a.act, op_type=a.op_type, registered_on=a.registered_on.isoformat(), office_name=a.office_name,
            office_code=a.office_code, certificate_number=a.certificate_number,
            party_name=a.own(query.id_number).name, party_id_number=query.id_number,
            spouse_name=a.other(query.id_number).name, spouse_id_number=a.other(query.id_number).id_number,
        )
        for a in acts
    )
    each_other = bool(query.spouse_id_number and spouse is not None
                      and same_resident_id(spouse.id_number, query.spouse_id_number)
                      and same_name(spouse.name, query.spouse_name or ""))
    return MarriageResult(status=status, records=records, spouse_name=spouse.name if spouse else "",
                          spouse_id_number=spouse.id_number if spouse else "", married_to_each_other=each_other)
