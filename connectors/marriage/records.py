"""The marriage department's reply: strict parsing of its acts and the status they imply.

Status comes from the latest act that changes it (IA marriage, IB divorce, ID annulment);
reissued certificates (IC, ICA, ICB) change nothing, and count only when no such act is on
record (older registrations sometimes exist only as a reissue). Anything outside the
protocol raises BadUpstream: a wrong status is worse than none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from connectors.base import BadUpstream
from querynode.domain.model import (
    MaritalStatus,
    MarriageAct,
    MarriageQuery,
    MarriageRecord,
    MarriageResult,
)

DEPT = "marriage"
CHANGES_STATUS = {MarriageAct.MARRIAGE: MaritalStatus.MARRIED, MarriageAct.DIVORCE: MaritalStatus.DIVORCED,
                  MarriageAct.ANNULMENT: MaritalStatus.ANNULLED}
REISSUE_STATUS = {MarriageAct.REISSUE_MARRIAGE: MaritalStatus.MARRIED,
                  MarriageAct.REISSUE_DIVORCE: MaritalStatus.DIVORCED}
# A generic reissue (IC) tells marriage from divorce only by its certificate prefix.
IC_PREFIX_STATUS = {"BJ": MaritalStatus.MARRIED, "BL": MaritalStatus.DIVORCED}
_DIGITS6 = re.compile(r"^\d{6}$")
_NATIONALITY = re.compile(r"^[A-Z]{3}$")
_ID = re.compile(r"^[0-9]{17}[0-9X]$")


@dataclass(frozen=True)
class Party:
    name: str
    id_number: str


@dataclass(frozen=True)
class Act:
    act: MarriageAct
    registered_on: date
    office_code: str
    office_name: str
    certificate_number: str
    man: Party
    woman: Party

    def involves(self, id_number: str) -> bool:
        return id_number in (self.man.id_number, self.woman.id_number)

    def other(self, id_number: str) -> Party:
        return self.woman if self.man.id_number == id_number else self.man


def _text(record: dict, key: str, max_len: int = 100) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise BadUpstream(f"{DEPT}: act field {key} missing or malformed")
    return value.strip()


def _date(record: dict, key: str) -> date:
    value = _text(record, key, 8)
    try:
        if len(value) != 8 or not value.isdigit():
            raise ValueError
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise BadUpstream(f"{DEPT}: act field {key} is not a YYYYMMDD date") from None


def _party(record: dict, side: str) -> Party:
    number = _text(record, f"cert_num_{side}", 18).upper()
    if not _ID.match(number):
        raise BadUpstream(f"{DEPT}: act field cert_num_{side} is not an ID number")
    _date(record, f"birth_{side}")
    if not _NATIONALITY.match(_text(record, f"nation_{side}", 3)):
        raise BadUpstream(f"{DEPT}: act field nation_{side} is not a nationality code")
    return Party(_text(record, f"name_{side}", 64), number)


def parse_act(record: object) -> Act:
    if not isinstance(record, dict):
        raise BadUpstream(f"{DEPT}: act is not an object")
    op_type = record.get("op_type")
    try:
        act = MarriageAct(op_type)
    except ValueError:
        raise BadUpstream(f"{DEPT}: unknown op_type") from None
    office_code = _text(record, "dept_code", 6)
    if not _DIGITS6.match(office_code):
        raise BadUpstream(f"{DEPT}: act field dept_code is not a division code")
    return Act(act, _date(record, "op_date"), office_code, _text(record, "dept_name"),
               _text(record, "cert_num", 40), _party(record, "man"), _party(record, "woman"))


def parse_acts(data: object) -> list[Act]:
    """The `data` of a 0000 reply: {total, list}; total must agree with the list."""
    if not isinstance(data, dict) or not isinstance(data.get("list"), list) or not data["list"]:
        raise BadUpstream(f"{DEPT}: found-reply without acts")
    if type(data.get("total")) is not int or data["total"] != len(data["list"]):
        raise BadUpstream(f"{DEPT}: act count does not match the list")
    acts = [parse_act(r) for r in data["list"]]
    return sorted(acts, key=lambda a: a.registered_on)  # stable: same-day acts keep reply order


def current(acts: list[Act], id_number: str) -> tuple[MaritalStatus, Party | None]:
    """Status of one person and, when married, the spouse, from that person's acts."""
    own = [a for a in acts if a.involves(id_number)]
    deciding = [a for a in own if a.act in CHANGES_STATUS]
    if deciding:
        latest = deciding[-1]
        status = CHANGES_STATUS[latest.act]
    elif own:
        latest = own[-1]
        status = REISSUE_STATUS.get(latest.act) or IC_PREFIX_STATUS.get(latest.certificate_number[:2])
        if status is None:
            raise BadUpstream(f"{DEPT}: reissue without a known certificate kind")
    else:
        return MaritalStatus.NO_RECORD, None
    return status, latest.other(id_number) if status is MaritalStatus.MARRIED else None


def result(query: MarriageQuery, acts: list[Act]) -> MarriageResult:
    """Map the acts of a (person or couple) query; acts must concern the persons asked. An act
    of the person asked may carry another name (registered under a former name): the record
    keeps it, and the case check reports the difference."""
    for act in acts:
        if act.involves(query.id_number):
            continue
        if not (query.spouse_id_number and act.involves(query.spouse_id_number)):
            raise BadUpstream(f"{DEPT}: reply contains an act of a person not asked about")
        elif Party(query.spouse_name or "", query.spouse_id_number) not in (act.man, act.woman):
            raise BadUpstream(f"{DEPT}: reply names the spouse differently from the query")
    status, spouse = current(acts, query.id_number)
    records = tuple(
        MarriageRecord(
            act=a.act, registered_on=a.registered_on.isoformat(), office_name=a.office_name,
            office_code=a.office_code, certificate_number=a.certificate_number, party_name=query.name,
            party_id_number=query.id_number, spouse_name=a.other(query.id_number).name,
            spouse_id_number=a.other(query.id_number).id_number,
        )
        for a in acts if a.involves(query.id_number)
    )
    married_to_each_other = False
    if query.spouse_id_number and spouse is not None:
        married_to_each_other = spouse == Party(query.spouse_name or "", query.spouse_id_number)
        # With the spouse's own acts in the reply, both sides must tell the same story.
        if married_to_each_other and current(acts, query.spouse_id_number) != (
                MaritalStatus.MARRIED, Party(query.name, query.id_number)):
            raise BadUpstream(f"{DEPT}: the couple's registrations contradict each other")
    return MarriageResult(
        status=status, records=records, spouse_name=spouse.name if spouse else "",
        spouse_id_number=spouse.id_number if spouse else "", married_to_each_other=married_to_each_other,
    )
