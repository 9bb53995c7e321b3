"""De-identification for display (DOMAIN.md §4). Mask on the server; the full value never
reaches a page or a caller that may only see it masked.

Defaults: name = surname + * per other character (compound surnames kept: 欧阳**);
ID number = first 6 + ******** + last 4 (never the birth date); phone 138****1234.
Credit codes and licence codes are public and are not masked.
"""
from __future__ import annotations

from dataclasses import replace

from querynode.domain import model as m

COMPOUND_SURNAMES = frozenset((
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙", "宇文",
    "司徒", "端木", "独孤", "南宫", "万俟", "闻人", "澹台", "公冶", "宗政", "濮阳", "淳于", "单于", "太叔",
    "申屠", "轩辕", "呼延", "赫连",
))


def mask_name(name: str) -> str:
    if not name:
        return ""
    if "·" in name:  # minority / foreign names: keep the first character of each part
        return "·".join(part[:1] + "*" * (len(part) - 1) for part in name.split("·"))
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:keep] + "*" * (len(name) - keep)


def mask_id_number(number: str) -> str:
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str) -> str:
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


# ------------------------------------------------------------------ results by view level


def _mask_party(party: m.Party) -> m.Party:
    # A party with an ID number of a person (18 chars, not a credit code) or a short name is a
    # natural person; organisations (public data) keep their names.
    person = bool(party.id_number) or len(party.name) <= 4 or "·" in party.name
    return replace(party, name=mask_name(party.name) if person else party.name,
                   id_number=mask_id_number(party.id_number) if party.id_number else "")


def _mask_text(text: str, names: set[str]) -> str:
    for name in sorted(names, key=len, reverse=True):
        if name:
            text = text.replace(name, mask_name(name))
    return text


def _masked(result):
    if isinstance(result, m.MarriageResult):
        return replace(
            result, spouse_name=mask_name(result.spouse_name), spouse_id_number=mask_id_number(result.spouse_id_number),
            records=tuple(replace(r, party_name=mask_name(r.party_name), party_id_number=mask_id_number(r.party_id_number),
                                  spouse_name=mask_name(r.spouse_name), spouse_id_number=mask_id_number(r.spouse_id_number))
                          for r in result.records))
    if isinstance(result, m.JudgmentResult):
        judgments = []
        for j in result.judgments:
            parties = tuple(_mask_party(p) for p in j.parties)
            persons = {p.name for p, masked in zip(j.parties, parties) if masked.name != p.name}
            judgments.append(replace(j, parties=parties, operative_text=_mask_text(j.operative_text, persons)))
        return replace(result, judgments=tuple(judgments))
    if isinstance(result, m.OrganizationResult):
        return replace(result, organizations=tuple(
            replace(o, legal_representative=mask_name(o.legal_representative)) for o in result.organizations))
    if isinstance(result, m.DeathResult) and result.record is not None:
        # From 2026-07-01 the certificate number is the deceased's ID number: masked like one.
        return replace(result, record=replace(
            result.record, certificate_number=mask_id_number(result.record.certificate_number)))
    return result  # identity (a verdict), licences and places (public)


def _verdict_only(result):
    if isinstance(result, m.MarriageResult):
        return m.MarriageResult(status=result.status, married_to_each_other=result.married_to_each_other)
    if isinstance(result, m.DeathResult):
        return m.DeathResult(record=None if result.record is None else m.DeathRecord("", "", "", ""))
    if isinstance(result, m.JudgmentResult):
        return replace(result, judgments=tuple(replace(j, parties=(), operative_text="") for j in result.judgments))
    return _masked(result)


def present(result, view: str):
    """The result as a caller with this view level may see it: 'full', 'masked' (names and ID
    numbers masked) or 'verdict' (the verdict and public register data only)."""
    if result is None or view == "full":
        return result
    if view == "masked":
        return _masked(result)
    return _verdict_only(result)
