"""Mock 民政部 婚姻登记信息查询 (MZ01 / civil_marriage_query), written from INTERFACES.md §9.1.

Request `{cert_num, name}`, one person per call (a provincial platform passes its `cxywcs` array
of one). Rows are found by the ID number only, not the name: a marriage registered under a
former name is still the person's. Reply `{count, rows}`, newest first (the department does not
promise an order); row fields `op_type op_date dept_code dept_name cert_no name_man cert_num_man
birth_man nation_man name_woman cert_num_woman birth_woman nation_woman`, dates `yyyy-MM-dd
00:00:00`, `dept_code` 8 digits (the 6-digit division and a 2-digit office), nationality ISO 3166
numeric (156, or 344/446/158 for residents of 香港/澳门/台湾).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mocks.ministry import MinistryDepartment
from mocks.population import Person
from mocks.world import MarriageAct, World

NATION = {"81": "344", "82": "446", "83": "158"}


def nation(person: Person) -> str:
    return NATION.get(person.id_number[:2], "156")


def row(act: MarriageAct) -> dict:
    office = act.office_code if len(act.office_code) == 8 else f"{act.office_code[:6]}01"
    out = {"op_type": act.op_type, "op_date": f"{act.registered_on.isoformat()} 00:00:00", "dept_code": office,
           "dept_name": act.office_name, "cert_no": act.certificate_number}
    for side, person in (("man", act.man), ("woman", act.woman)):
        out |= {f"name_{side}": person.name, f"cert_num_{side}": person.id_number,
                f"birth_{side}": f"{person.birth_date.isoformat()} 00:00:00", f"nation_{side}": nation(person)}
    return out


class MarriageDepartment(MinistryDepartment):
    name = "marriage"
    path = "/mca/api/marriage/query"
    request_type = "MZ01"

    def answers(self) -> dict[str, Callable[[Any], Any]]:
        return {"civil_marriage_query": self.answer}

    def answer(self, data: Any) -> dict:
        if isinstance(data, list):  # a provincial cxywcs: one person
            data = data[0] if len(data) == 1 else {}
        number = str(data.get("cert_num", "")).strip().upper() if isinstance(data, dict) else ""
        acts = self.world.acts_of(number) if number else []
        rows = [row(a) for a in sorted(acts, key=lambda a: (a.registered_on, a.certificate_number), reverse=True)]
        return {"count": len(rows), "rows": rows}


# ------------------------------------------------------------------ samples


def _current(world: World, person: Person) -> tuple[str, Person | None]:
    """Status and spouse from the latest status-changing act (reissues change nothing)."""
    acts = [a for a in world.acts_of(person.id_number) if a.op_type in ("IA", "IB", "ID")]
    if not acts:
        return "NO_RECORD", None
    latest = acts[-1]
    spouse = latest.woman if latest.man.id_number == person.id_number else latest.man
    return {"IA": "MARRIED", "IB": "DIVORCED", "ID": "ANNULLED"}[latest.op_type], spouse


def samples(world: World) -> dict:
    """Persons and couples with known marriage outcomes (for samples.json)."""
    def entry(label: str, person: Person, **more) -> dict:
        return {"label": label, "name": person.name, "id_number": person.id_number, **more}

    def spouse_of(person: Person, spouse: Person) -> dict:
        return {"spouse_name": spouse.name, "spouse_id_number": spouse.id_number}

    alive = [p for p in world.persons if p.id_number not in world.deaths]
    adults = [p for p in alive if p.kind == "resident" and p.birth_date.year < 1990]
    by_status: dict[str, list[tuple[Person, Person | None]]] = {}
    for person in adults:
        status, spouse = _current(world, person)
        by_status.setdefault(status, []).append((person, spouse))
    married = [(p, s) for p, s in by_status["MARRIED"] if s.id_number not in world.deaths]
    remarried = next((p, s) for p, s in married
                     if len({a.certificate_number for a in world.acts_of(p.id_number) if a.op_type == "IA"}) > 1)
    plain = next((p, s) for p, s in married if len(world.acts_of(p.id_number)) == 1)
    divorced = by_status["DIVORCED"][0]
    annulled = by_status["ANNULLED"][0]
    never = by_status["NO_RECORD"][0][0]
    other = next(p for p, _ in married[1:] if p.sex != plain[0].sex and p.id_number != plain[1].id_number)
    return {
        "married": [entry("married, one registration", plain[0], **spouse_of(*plain))],
        "remarried": [entry("divorced, then married someone else", remarried[0], **spouse_of(*remarried))],
        "divorced": [entry("divorced", divorced[0])],
        "annulled": [entry("marriage annulled", annulled[0])],
        "no_record": [entry("never registered", never)],
        "couple": [entry("married to each other", plain[0], **spouse_of(*plain))],
        "not_a_couple": [entry("each married to someone else", plain[0], **spouse_of(plain[0], other))],
    }
