"""Checks every text field of a request shares, before any field-specific rule.

Refused outright (typed `InvalidArgument`): a value that is not a string, lone surrogates and
Unicode non-characters (they cannot be stored or encoded: issue 18 H2), control and
bidirectional-override characters, markup. Invisible format characters (zero-width space,
joiners, BOM, soft hyphen) are what copy and paste leaves behind: identifier and name fields
remove them with a warning, free-text context fields refuse them.
"""
from __future__ import annotations

import re
import unicodedata

from querynode.domain.errors import invalid, warning

# Zero-width space/non-joiner/joiner, word joiner, BOM (zero-width no-break space), soft hyphen.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# C0/C1 controls, LRM/RLM, line/paragraph separators, embeddings and overrides, isolates.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_WHITESPACE_CONTROL = re.compile(r"[\t\n\r]")
# Full-width forms of the printable ASCII range (！ to ～) and the ideographic space.
FULL_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


# Lone surrogates and every Unicode non-character (U+FDD0..U+FDEF and the last two code points
# of every plane), as one character class.
_INVALID_CODE_POINT = re.compile("[\ud800-\udfff\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)) + "]")


def has_invalid_code_point(value: str) -> bool:
    """A lone surrogate (which no UTF-8 encoder accepts) or a non-character."""
    return not value.isascii() and _INVALID_CODE_POINT.search(value) is not None


def checked_text(value: object, field: str, *, max_len: int, min_len: int = 1,
                 invisible: str = "refuse", controls_as_space: bool = False,
                 label: str = "") -> tuple[str, list[str]]:
    """The value NFC-normalised and trimmed, with warnings; or InvalidArgument naming the field.

    `invisible="remove"` drops zero-width characters and the BOM with a warning instead of
    refusing them; `controls_as_space` reads tab and line breaks as spaces (names); `label`
    names the field in messages where its path alone is ambiguous.
    """
    if not isinstance(value, str):
        raise invalid(field, "NOT_A_STRING", label=label)
    if len(value) > 4 * max_len:  # a bound before any work on the value
        raise invalid(field, "TOO_LONG", label=label, max=max_len)
    if has_invalid_code_point(value):
        raise invalid(field, "INVALID_UNICODE", label=label)
    warnings: list[str] = []
    if _INVISIBLE.search(value):
        if invisible != "remove":
            raise invalid(field, "INVISIBLE_CHARACTER", label=label)
        value = _INVISIBLE.sub("", value)
        warnings.append(warning(field, "INVISIBLE_REMOVED", label=label))
    if controls_as_space:
        value = _WHITESPACE_CONTROL.sub(" ", value)
    value = unicodedata.normalize("NFC", value).strip()
    if len(value) < min_len:
        if min_len == 1:
            raise invalid(field, "REQUIRED", label=label)
        raise invalid(field, "TOO_SHORT", label=label, min=min_len)
    if len(value) > max_len:
        raise invalid(field, "TOO_LONG", label=label, max=max_len)
    if _CONTROL.search(value) or _WHITESPACE_CONTROL.search(value):
        raise invalid(field, "CONTROL_CHARACTER", label=label)
    if "<" in value or ">" in value:
        raise invalid(field, "MARKUP", label=label)
    return value, warnings


def context_text(value: object, field: str, *, max_len: int) -> str:
    """A required free-text context field (case number, operator id, purpose)."""
    return checked_text(value, field, max_len=max_len)[0]


def half_width(value: str) -> str:
    """Full-width ASCII forms (１, Ｘ, （) mapped to their ASCII characters."""
    return value.translate(FULL_WIDTH)

