"""Validation and normalisation of every identifier a query can carry (DOMAIN.md §2).

Each function takes the raw value and the wire field name, returns the normalised value
(with warnings where something was changed or is in doubt) or raises `InvalidArgument`
naming the field with a machine code and a Chinese text (querynode/domain/errors.py). No
message ever echoes the value. The normalised value is what goes upstream, what the cache
key and the blind index of the audit record are made of: one person, one audit trail.

Identifiers are read in ASCII: full-width digits and letters (１, Ｘ) are mapped to ASCII with
a warning; any other digit (superscripts, Arabic-Indic, Devanagari ...) is refused, never
passed on. Regular expressions here are compiled with re.ASCII so `\\d` means 0-9 only.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

import pycountry
from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from querynode.domain import fields as limits
from querynode.domain.errors import InvalidArgument, invalid, warning
from querynode.domain.model import SHANGHAI
from querynode.domain.names import person_name as _person_name
from querynode.domain.names import same_name
from querynode.domain.text import checked_text, context_text, half_width

__all__ = ["CASE_TYPES", "HMT_ADDRESS_CODES", "birth_date", "context_text", "court_case_number", "credit_code",
           "division_code", "license_code", "organization_name", "person_name", "place_name", "resident_id",
           "same_person_name", "same_resident_id"]

# Hong Kong, Macao and Taiwan residence permits (since 2018).
HMT_ADDRESS_CODES = {"810000": "港澳台居民居住证（香港）", "820000": "港澳台居民居住证（澳门）",
                     "830000": "港澳台居民居住证（台湾）"}

_LICENSE = re.compile(r"^[A-Z]\d{4}[A-Z]\d{9}$", re.ASCII)
_DIVISION = re.compile(r"^\d{6}(?:\d{6})?$", re.ASCII)
_OLD_FOREIGN_CARD = re.compile(r"^[A-Z]{3}\d{12}$", re.ASCII)
_ID_18 = re.compile(r"^\d{17}[\dX]$", re.ASCII)

_PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新兵"
# Type codes (类型代字) of 法〔2015〕137号 as amended: jurisdiction, criminal, civil, administrative,
# state compensation, preservation, enforcement, compulsory liquidation and bankruptcy, judicial
# aid and sanctions, inter-regional and international assistance.
CASE_TYPES = tuple(sorted((
    "民辖 民辖终 民辖监 刑辖 行辖 行辖终 行辖监 "
    "刑初 刑终 刑核 刑申 刑抗 刑再 刑监 刑更 刑医 刑他 刑止 "
    "民初 民终 民监 民申 民抗 民再 民撤 民特 民催 民督 民他 民诉前调 民诉前保 民请 "
    "知民初 知民终 知民辖终 知行初 知行终 知刑初 知刑终 "
    "行初 行终 行申 行抗 行再 行监 行审 行审复 行他 行诉前调 行赔初 行赔终 行赔申 行赔抗 行赔再 "
    "法赔 委赔 委赔监 赔 赔他 "
    "财保 行保 证保 "
    "执 执恢 执保 执异 执复 执监 执协 执他 执辖 "
    "强清申 强清 强清终 强清他 破申 破 破终 破监 破他 "
    "司救刑 司救民 司救行 司救执 司救赔 司救访 司救 司惩 司惩复 "
    "认港 认澳 认台 请港 请澳 请台 协外认 协他 请外协 法"
).split(), key=len, reverse=True))
_SUFFIX = "之[一二三四五六七八九十]{1,3}"
_CASE_NEW = re.compile(
    rf"^\((?P<year>\d{{4}})\)(?P<court>最高法|[{_PROVINCES}](?:\d{{2}}|\d{{4}})?)"
    rf"(?P<type>{'|'.join(CASE_TYPES)})(?P<seq>\d{{1,6}})号(?:{_SUFFIX})?$", re.ASCII)
_CASE_OLD = re.compile(
    rf"^\((?P<year>\d{{4}})\)(?P<body>[\u4e00-\u9fff0-9]{{1,16}}?)字第(?P<seq>\d{{1,6}})号(?:{_SUFFIX})?$", re.ASCII)

# GB 32100-2015 appendix A: registering department (position 1) and the organisation
# categories (position 2) each one assigns.
CREDIT_CATEGORIES = {
    "1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129", "7": "129", "8": "19",
    "9": "123", "A": "19", "N": "1239", "Y": "1",
}
_ORGANIZATION_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997


def _identifier(value: object, field: str, *, max_len: int) -> tuple[str, list[str]]:
    """An identifier's text in ASCII upper case, with warnings (invisible characters removed,
    full-width forms converted). Other non-ASCII characters are left for the caller to refuse."""
    text, warnings = checked_text(value, field, max_len=max_len, invisible="remove")
    ascii_text = half_width(text)
    if ascii_text != text:
        warnings.append(warning(field, "FULL_WIDTH_CONVERTED"))
    return ascii_text.upper(), warnings


def _non_ascii_digit(text: str) -> bool:
    return any(not c.isascii() and (c.isdigit() or c.isnumeric()) for c in text)


def resident_id(value: object, field: str = "id_number") -> tuple[str, list[str]]:
    """Resident ID number (GB 11643-1999), residence permit or foreigner's permanent ID.

    Returns the number with an upper-case X and warnings. A legacy 15-digit number is
    converted to 18 digits, with a warning. A 15-character foreigner's permanent residence
    card of the 2004 and 2017 issues (3 letters + 12 digits) is kept as it is. An address
    code whose province does not exist is refused; one the node's table does not know
    within a real province is a warning (old cards keep old codes).
    """
    number, warnings = _identifier(value, field, max_len=limits.ID_NUMBER.max_length)
    if _non_ascii_digit(number):
        raise invalid(field, "ID_NON_ASCII_DIGIT")
    if len(number) == 15 and _OLD_FOREIGN_CARD.match(number):
        return _old_foreign_card(number, field), warnings
    if len(number) == 15 and number.isascii() and number.isdigit():
        body = number[:6] + "19" + number[6:]
        number = body + ric.calc_check_digit(body + "0")
        warnings.append(warning(field, "LEGACY_ID_CONVERTED"))
    if len(number) != 18:
        raise invalid(field, "ID_LENGTH")
    if not _ID_18.match(number):
        raise invalid(field, "ID_CHARACTERS")
    if number[-1] != ric.calc_check_digit(number):
        raise invalid(field, "ID_CHECK_CHARACTER")
    _birth_date_18(number, field)
    address = number[:6]
    if number[0] == "9":
        # foreigner's permanent residence ID card (2023): 9 + issuing province + ISO 3166 numeric nationality
        if not _province(number[1:3]) or pycountry.countries.get(numeric=number[3:6]) is None:
            raise invalid(field, "ID_FOREIGN_CARD")
    elif address in HMT_ADDRESS_CODES:
        pass
    elif not _province(address[:2]):
        raise invalid(field, "ID_REGION")
    elif not _known_county(address):
        warnings.append(warning(field, "ID_REGION_UNKNOWN"))
    return number, warnings


def _birth_date_18(number: str, field: str) -> date:
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        raise invalid(field, "ID_BIRTH_DATE") from None
    _plausible_birth(born, field)
    return born


def _plausible_birth(born: date, field: str) -> None:
    if born > datetime.now(SHANGHAI).date():
        raise invalid(field, "ID_BIRTH_FUTURE")
    if born < date(1880, 1, 1):
        raise invalid(field, "ID_BIRTH_TOO_EARLY")


def _old_foreign_card(number: str, field: str) -> str:
    """3-letter nationality (ISO 3166-1 alpha-3) + 4-digit place of acceptance (province and
    city) + birth date YYMMDD + 2 digits. The card's own check digit rule is not public, so
    only the parts are checked."""
    nationality = number[:3]
    if (pycountry.countries.get(alpha_3=nationality) is None
            and pycountry.historic_countries.get(alpha_3=nationality) is None) or not _province(number[3:5]):
        raise invalid(field, "ID_OLD_FOREIGN_CARD")
    _plausible_birth(_old_card_birth_date(number, field), field)
    return number


def _old_card_birth_date(number: str, field: str) -> date:
    yy, mm, dd = int(number[7:9]), int(number[9:11]), int(number[11:13])
    today = datetime.now(SHANGHAI).date()
    try:
        born = date(2000 + yy, mm, dd)
        return born if born <= today else date(1900 + yy, mm, dd)
    except ValueError:
        raise invalid(field, "ID_BIRTH_DATE") from None


def birth_date(number: str) -> date:
    """The birth date a normalised ID number (as `resident_id` returns it) carries."""
    if len(number) == 15:
        return _old_card_birth_date(number, "id_number")
    return ric.get_birth_date(number)


@lru_cache(maxsize=64)
def _province(code: str) -> bool:
    """Whether a 2-digit code is a province-level division in the division table."""
    return code.isascii() and code.isdigit() and any(
        "province" in props for _, props in numdb.get("cn/loc").info(code + "0000"))


@lru_cache(maxsize=8192)  # the division table is static; ~3,200 county codes
def _known_county(code: str) -> bool:
    info = {k for _, props in numdb.get("cn/loc").info(code) for k in props}
    return "county" in info


def person_name(value: object, field: str = "name") -> tuple[str, list[str]]:
    """A person's name and warnings (querynode/domain/names.py)."""
    return _person_name(value, field)


def organization_name(value: object, field: str = "name") -> str:
    """An organisation or institution name: 2-100 printable characters, no markup."""
    return checked_text(value, field, max_len=limits.ORGANIZATION_NAME.max_length,
                        min_len=limits.ORGANIZATION_NAME.min_length)[0]


def credit_code(value: object, field: str = "credit_code") -> tuple[str, list[str]]:
    """Unified social credit code (GB 32100-2015).

    python-stdnum's `cn.uscc` checks only the length, digits in positions 1-8 and the check
    character; here the registering department and category (appendix A), the division of
    the registering authority and the embedded organisation code's own check (GB 11714) are
    checked too. A failing final check character is a warning: some 2015 pilot codes were
    issued that way.
    """
    code, warnings = _identifier(value, field, max_len=limits.CREDIT_CODE.max_length)
    if len(code) != 18:
        raise invalid(field, "CREDIT_LENGTH")
    if any(c not in uscc._alphabet for c in code):
        raise invalid(field, "CREDIT_CHARACTERS")
    if code[1] not in CREDIT_CATEGORIES.get(code[0], ""):
        raise invalid(field, "CREDIT_DEPARTMENT" if code[0] not in CREDIT_CATEGORIES else "CREDIT_CATEGORY")
    region = code[2:8]
    if not (region.isdigit() and (region == "100000" or _province(region[:2]))):
        raise invalid(field, "CREDIT_REGION")
    if code[16] != _organization_check(code[8:16]):
        raise invalid(field, "CREDIT_ORGANIZATION_CODE")
    if code[-1] != uscc.calc_check_digit(code):
        warnings.append(warning(field, "CREDIT_CHECK_CHARACTER"))
    return code, warnings


def _organization_check(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body (A=10 ... Z=35)."""
    remainder = 11 - sum(int(c, 36) * w for c, w in zip(body, _ORGANIZATION_CODE_WEIGHTS)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def license_code(value: object, field: str = "license_code") -> str:
    """Financial licence code (机构编码): type letter, 4-digit institution code, category
    letter, issuer digit, 6-digit division code, 2-digit sequence (DOMAIN.md §2)."""
    code, _ = _identifier(value, field, max_len=limits.LICENSE_CODE.max_length)
    if not _LICENSE.match(code):
        raise invalid(field, "LICENSE_FORMAT")
    division = code[7:13]
    if not (division == "100000" or _province(division[:2])):
        raise invalid(field, "LICENSE_REGION")
    return code


def court_case_number(value: object, field: str = "case_number") -> str:
    """Court case number (案号), 2016 rules (法〔2015〕137号) or the older 字第 form, with an
    optional 之一 suffix. Returns it with full-width brackets and ASCII digits."""
    number, _ = checked_text(value, field, max_len=limits.CASE_NUMBER.max_length, invisible="remove")
    number = half_width(number).replace(" ", "")
    if not (_CASE_NEW.match(number) or _CASE_OLD.match(number)):
        raise invalid(field, "CASE_NUMBER_FORMAT")
    year = int(number[1:5])
    if not 1949 <= year <= datetime.now(SHANGHAI).year:
        raise invalid(field, "CASE_NUMBER_YEAR")
    return "（" + number[1:5] + "）" + number[6:]


def division_code(value: object, field: str = "division_code") -> str:
    """Division code: 6 digits (GB/T 2260) or 12 digits (statistical)."""
    code, _ = _identifier(value, field, max_len=limits.DIVISION_CODE.max_length)
    if not _DIVISION.match(code):
        raise invalid(field, "DIVISION_FORMAT")
    return code


def place_name(value: object, field: str = "name") -> str:
    """A place name to search: 1-50 characters, no markup or control characters."""
    return checked_text(value, field, max_len=limits.PLACE_NAME.max_length, invisible="remove")[0]


def same_resident_id(a: str, b: str) -> bool:
    """Whether two ID numbers as typed or returned name the same person: each normalised as
    `resident_id` does (upper-case X, 15 digits to 18, full-width digits to ASCII), so that
    every form of one number compares equal."""
    def normal(value: str) -> str:
        try:
            return resident_id(value)[0]
        except InvalidArgument:
            return half_width(value).strip().upper()

    return bool(a) and bool(b) and normal(a) == normal(b)


def same_person_name(a: str, b: str) -> bool:
    """Whether two names as typed or returned are the same name (querynode/domain/names.py)."""
    return same_name(a, b)
