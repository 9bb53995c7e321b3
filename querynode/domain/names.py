"""Person names: one normalisation for input, one key for every comparison.

`person_name` validates what a caller typed and returns the form that goes upstream;
`name_key` turns any name (typed, or from a department's reply) into the form names are
compared in, and `same_name` is the one comparison the node uses for names.

Rules (issue 17): spaces between Han characters and invisible characters are removed with a
warning ("张 三" is 张三); every middle-dot look-alike is the middle dot U+00B7 (艾力.买买提,
艾力･买买提 are 艾力·买买提); Latin names may carry apostrophes and hyphens (O'BRIEN,
SMITH-JONES) and letters with diacritics (MÜLLER), and compare without regard to case.
"""
from __future__ import annotations

import re
import unicodedata

from querynode.domain.errors import invalid, warning
from querynode.domain.fields import PERSON_NAME
from querynode.domain.text import INVISIBLE, checked_text, half_width

MIDDLE_DOT = "\u00b7"
# Look-alikes of the middle dot that keyboards and OCR produce: bullet, katakana middle dot
# (full and half width), bullet operator, dot operator, hyphenation point, full-width full stop,
# Greek ano teleia, runic punctuation, word-separator middle dot, Latin letter sinological dot,
# one-dot leader.
DOT_LOOKALIKES = "\u2022\u30fb\uff65\u2219\u22c5\u2027\uff0e\u0387\u16eb\u2e31\ua78f\u2024"
_APOSTROPHES = "\u2019\u2018\u02bc\u02b9\u0060\u00b4\uff07"
_HYPHENS = "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"
_TRANSLATE = str.maketrans({**{c: MIDDLE_DOT for c in DOT_LOOKALIKES}, **{c: "'" for c in _APOSTROPHES},
                            **{c: "-" for c in _HYPHENS}})
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_FULL_STOP_BETWEEN_HAN = re.compile(rf"(?<=[{_HAN}])\s*\.\s*(?=[{_HAN}])")
_SPACE_BETWEEN_HAN = re.compile(rf"(?<=[{_HAN}]) +(?=[{_HAN}])")
_SPACE_AROUND_DOT = re.compile(rf" *{MIDDLE_DOT} *")
_SEPARATORS = f" {MIDDLE_DOT}'-"
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
MAX_LENGTH = PERSON_NAME.max_length


def _is_name_letter(c: str) -> bool:
    """A Han character or a Latin letter (with or without diacritics)."""
    if re.match(f"[{_HAN}]", c):
        return True
    return unicodedata.category(c).startswith("L") and unicodedata.name(c, "").startswith("LATIN ")


def _canonical(name: str) -> tuple[str, bool]:
    """Look-alikes mapped, spaces settled; and whether spaces between Han characters went."""
    name = half_width(name.translate(_TRANSLATE))
    name = " ".join(name.split())
    name = _FULL_STOP_BETWEEN_HAN.sub(MIDDLE_DOT, name)
    name = _SPACE_AROUND_DOT.sub(MIDDLE_DOT, name)
    joined = _SPACE_BETWEEN_HAN.sub("", name)
    return joined, joined != name


def person_name(value: object, field: str = "name") -> tuple[str, list[str]]:
    """A person's name as it goes upstream, with warnings; or InvalidArgument naming the field."""
    name, warnings = checked_text(value, field, max_len=MAX_LENGTH, invisible="remove", controls_as_space=True)
    name, joined = _canonical(name)
    if joined:
        warnings.append(warning(field, "SPACES_REMOVED"))
    if not name:
        raise invalid(field, "REQUIRED")
    if len(name) > MAX_LENGTH:
        raise invalid(field, "TOO_LONG", max=MAX_LENGTH)
    if any(not (_is_name_letter(c) or c in _SEPARATORS) for c in name):
        raise invalid(field, "NAME_CHARACTERS")
    if name[0] in _SEPARATORS or name[-1] in _SEPARATORS or any(
            a in _SEPARATORS and b in _SEPARATORS for a, b in zip(name, name[1:])):
        raise invalid(field, "NAME_SEPARATOR")
    return name, warnings


def name_key(name: str | None) -> str:
    """The form names are compared in; never raises. The same normalisation as `person_name`,
    then compatibility forms folded (full-width letters, brackets of organisation names) and
    case folded."""
    if not name:
        return ""
    name = _INVISIBLE.sub("", unicodedata.normalize("NFC", name))
    name, _ = _canonical(name)
    return unicodedata.normalize("NFKC", name).replace("\u30fb", MIDDLE_DOT).casefold().strip()


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two names are the same name (both given, equal after normalisation)."""
    key = name_key(a)
    return bool(key) and key == name_key(b)
