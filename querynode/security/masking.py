"""De-identification for display (DOMAIN.md §4). Mask on the server; the full value never
reaches a page or a caller that may only see it masked.

Defaults: name = surname + * per other character (compound surnames kept: 欧阳**);
ID number = first 6 + ******** + last 4 (never the birth date); phone 138****1234.
Credit codes and licence codes are public and are not masked.
"""
from __future__ import annotations

from querynode.core.operations import registry

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


def mask_id_or_dash(number: str) -> str:
    return mask_id_number(number) if number else "—"


def mask_person(name: str, id_number: str) -> str:
    """A person as a page heads it: masked name and masked ID number."""
    return f"{mask_name(name)}　{mask_id_number(id_number)}"


# ------------------------------------------------------------------ results by view level


def is_natural_person(name: str, id_number: str = "") -> bool:
    """A party with an ID number of a person or a short name is a natural person;
    organisations (public data) keep their names."""
    return bool(id_number) or len(name) <= 4 or "·" in name


def mask_in_text(text: str, names: set[str]) -> str:
    """Mask each of `names` where the text quotes it (longest first)."""
    for name in sorted(names, key=len, reverse=True):
        if name:
            text = text.replace(name, mask_name(name))
    return text


def present(result, view: str):
    """The result as a caller with this view level may see it: 'full', 'masked' (names and ID
    numbers masked) or 'verdict' (the verdict and public register data only).

    Each operation declares its masking for every view (core/operations.py); a result of a
    type no operation declares raises LookupError: it is never shown unmasked."""
    if result is None or view == "full":
        return result
    return registry().operation_of_result(result).masking[view](result)
