"""Validation and normalisation of every identifier a query can carry (DOMAIN.md §2).

Each function takes the raw value and the wire field name, returns the normalised value
(and, where the standard allows doubt, warnings) or raises `InvalidArgument` naming the
field. No message ever echoes the value.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from querynode.domain.errors import FieldViolation, InvalidArgument

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Hong Kong, Macao and Taiwan residence permits (since 2018).
HMT_ADDRESS_CODES = {"810000": "港澳台居民居住证（香港）", "820000": "港澳台居民居住证（澳门）",
                     "830000": "港澳台居民居住证（台湾）"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_NAME = re.compile(rf"^[{_HAN}A-Za-z·]+(?: [{_HAN}A-Za-z·]+)*$")
_DOT_VARIANTS = str.maketrans({"•": "·", "・": "·", "．": "·", "\u2027": "·"})
_LICENSE = re.compile(r"^[A-Z]\d{4}[A-Z]\d{9}$")
_DIVISION = re.compile(r"^\d{6}(?:\d{6})?$")

_PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新兵"
CASE_TYPES = (
    "民初 民终 民申 民再 民特 民催 民督 民破 刑初 刑终 刑申 刑再 行初 行终 行申 行再 "
    "执恢 执异 执复 执监 执保 执 财保 破申 破 赔 司救 法"
).split()
_CASE_NEW = re.compile(
    rf"^[（(](?P<year>\d{{4}})[）)](?P<court>最高法|[{_PROVINCES}](?:\d{{2}}|\d{{4}})?)"
    rf"(?P<type>{'|'.join(CASE_TYPES)})(?P<seq>\d{{1,6}})号$"
)
_CASE_OLD = re.compile(r"^[（(](?P<year>\d{4})[）)](?P<body>[\u4e00-\u9fff\d]{1,16}?)字第(?P<seq>\d{1,6})号$")


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(field, description)])


def _text(value: object, field: str, *, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    value = unicodedata.normalize("NFC", value).strip()
    if len(value) < min_len:
        raise _invalid(field, "is required" if min_len == 1 else f"needs at least {min_len} characters")
    if len(value) > max_len:
        raise _invalid(field, f"is longer than {max_len} characters")
    if _CONTROL.search(value):
        raise _invalid(field, "contains control characters")
    if "<" in value or ">" in value:
        raise _invalid(field, "contains markup characters")
    return value


def context_text(value: object, field: str, *, max_len: int) -> str:
    """A required free-text context field (case number, operator id, purpose)."""
    return _text(value, field, max_len=max_len)


def resident_id(value: object, field: str = "id_number") -> tuple[str, list[str]]:
    """Resident ID number (GB 11643-1999), residence permit or foreigner's permanent ID.

    Returns the 18-character number with an upper-case X and warnings (an address code the
    node's table does not know is a warning, not an error: old cards keep old codes).
    A legacy 15-digit number is converted to 18 digits, with a warning.
    """
    number = _text(value, field, max_len=18).upper()
    warnings: list[str] = []
    if len(number) == 15 and number.isdigit():
        body = number[:6] + "19" + number[6:]
        number = body + ric.calc_check_digit(body + "0")
        warnings.append(f"{field}: legacy 15-digit number converted to 18 digits")
    if len(number) != 18:
        raise _invalid(field, "must have 18 characters")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise _invalid(field, "must be 17 digits followed by a digit or X")
    if number[-1] != ric.calc_check_digit(number):
        raise _invalid(field, "check character does not match (ISO 7064 MOD 11-2)")
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        raise _invalid(field, "birth date part is not a real date") from None
    today = datetime.now(SHANGHAI).date()
    if born > today:
        raise _invalid(field, "birth date part lies in the future")
    if born < date(1880, 1, 1):
        raise _invalid(field, "birth date part is before 1880")
    address = number[:6]
    if number[0] == "9":
        pass  # foreigner's permanent residence ID card (2023): 9 + province + nationality code
    elif address in HMT_ADDRESS_CODES:
        pass
    elif not _known_address(address):
        warnings.append(f"{field}: address code not in the node's division table")
    return number, warnings


@lru_cache(maxsize=8192)  # the division table is static; ~3,200 county codes
def _known_address(code: str) -> bool:
    info = {k for _, props in numdb.get("cn/loc").info(code) for k in props}
    return "county" in info


def person_name(value: object, field: str = "name") -> str:
    """A person's name: 1-30 characters of Han script, letters and the middle dot ·."""
    name = _text(value, field, max_len=30).translate(_DOT_VARIANTS)
    name = re.sub(r"\s+", " ", name)
    if not _NAME.match(name):
        raise _invalid(field, "may only contain Han characters, letters, spaces and the middle dot ·")
    if name.startswith("·") or name.endswith("·") or "··" in name:
        raise _invalid(field, "middle dot must stand between name parts")
    return name


def organization_name(value: object, field: str = "name") -> str:
    """An organisation or institution name: 2-100 printable characters, no markup."""
    return _text(value, field, max_len=100, min_len=2)


def credit_code(value: object, field: str = "credit_code") -> tuple[str, list[str]]:
    """Unified social credit code (GB 32100-2015). A failing check character is a warning:
    some 2015 pilot codes were issued that way."""
    code = _text(value, field, max_len=18).upper()
    if len(code) != 18:
        raise _invalid(field, "must have 18 characters")
    if any(c not in uscc._alphabet for c in code):
        raise _invalid(field, "contains characters outside 0-9 and A-Y without I, O, Z, S, V")
    warnings = []
    if code[-1] != uscc.calc_check_digit(code):
        warnings.append(f"{field}: check character does not verify (possible 2015 pilot code)")
    return code, warnings


def license_code(value: object, field: str = "license_code") -> str:
    """Financial licence code (机构编码): [A-Z]\\d{4}[A-Z]\\d{9}."""
    code = _text(value, field, max_len=15).upper()
    if not _LICENSE.match(code):
        raise _invalid(field, "must be a letter, 4 digits, a letter and 9 digits")
    return code


def court_case_number(value: object, field: str = "case_number") -> str:
    """Court case number (案号), 2016 rules or the older 字第 form. Returns it with
    full-width brackets."""
    number = _text(value, field, max_len=40).replace(" ", "")
    if not (_CASE_NEW.match(number) or _CASE_OLD.match(number)):
        raise _invalid(field, "is not a court case number such as （2023）京0105民初1234号")
    year = int(number[1:5])
    if not 1949 <= year <= datetime.now(SHANGHAI).year:
        raise _invalid(field, "year is out of range")
    return "（" + number[1:5] + "）" + number[6:]


def division_code(value: object, field: str = "division_code") -> str:
    """Division code: 6 digits (GB/T 2260) or 12 digits (statistical)."""
    code = _text(value, field, max_len=12)
    if not _DIVISION.match(code):
        raise _invalid(field, "must have 6 or 12 digits")
    return code


def place_name(value: object, field: str = "name") -> str:
    """A place name to search: 1-50 characters, no markup or control characters."""
    return _text(value, field, max_len=50)


def same_resident_id(a: str, b: str) -> bool:
    """Whether two ID numbers as typed or returned name the same person: each normalised
    first (upper-case X, 15 digits to 18), so that a lower-case x or an old 15-digit form of
    the same number compares equal."""
    def normal(value: str) -> str:
        try:
            return resident_id(value)[0]
        except InvalidArgument:
            return value.strip().upper()

    return bool(a) and bool(b) and normal(a) == normal(b)


def same_person_name(a: str, b: str) -> bool:
    """Whether two names as typed or returned are the same name: normalised (middle-dot
    look-alikes, spacing) and compared case-insensitively for Latin letters."""
    def normal(value: str) -> str:
        try:
            value = person_name(value)
        except InvalidArgument:
            value = value.strip()
        return re.sub(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])", "", value).casefold()

    return bool(a) and bool(b) and normal(a) == normal(b)
