"""Identifier and name validation (DOMAIN.md §2, issue 17 deliverable 6, issue 18 H2/L1), value by value.

Every refusal is an InvalidArgument with a stable machine code and a Chinese text naming the
field; every accepted value comes back in the normalised form that goes upstream.
"""
from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from querynode.core.validate import validate_context, validate_query
from querynode.domain import errors as e
from querynode.domain import identifiers as ids
from querynode.domain import model as m
from querynode.domain.errors import InvalidArgument
from querynode.domain.names import name_key, same_name
from querynode.security.blind_index import BlindIndex, subject_index


def with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def refused(fn, value, code: str, field: str | None = None) -> e.FieldViolation:
    """Assert `fn(value)` refuses with `code`; return the violation."""
    with pytest.raises(InvalidArgument) as info:
        fn(value) if field is None else fn(value, field)
    violation = info.value.violations[0]
    assert violation.code == code, violation
    return violation


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


NUMBER = with_check("11010519491231002")  # a valid number with a known county
X_NUMBER = next(n for n in (with_check(f"11010519491231{s:03d}") for s in range(1000)) if n[-1] == "X")


# ------------------------------------------------------------------ resident ID numbers

def test_valid_number_and_lower_x():
    assert ids.resident_id(X_NUMBER.lower()) == (X_NUMBER, [])


@pytest.mark.parametrize("number", [
    with_check("81000019800101123"), with_check("82000019800101123"), with_check("83000019800101123"),
    with_check("93184019800101123"),  # foreigner's permanent residence card: 9 + 31 + 840 (USA)
    with_check("94427619800101123"),  # 9 + 44 (广东) + 276 (Germany)
])
def test_permits_and_foreigner_cards_are_valid_without_warning(number):
    assert ids.resident_id(number) == (number, [])


def test_unknown_county_in_a_real_province_is_a_warning_not_an_error():
    number = with_check("11019919800101123")
    normalised, warnings = ids.resident_id(number)
    assert normalised == number and len(warnings) == 1 and number not in warnings[0]
    assert warnings[0].startswith("身份证号：")


def test_county_created_after_birth_is_accepted():
    # 110112 (通州区) exists since 1997; older people's cards carry it anyway.
    number = with_check("11011219500101123")
    assert ids.resident_id(number)[0] == number


def test_legacy_15_digit_is_converted_with_a_warning():
    normalised, warnings = ids.resident_id("110105491231002")
    assert normalised == with_check("11010519491231002")
    assert warnings == ["身份证号：已将 15 位旧号码转换为 18 位"]


def test_full_width_digits_and_x_are_mapped_to_ascii_with_a_warning():
    for typed in (full_width(X_NUMBER), full_width(X_NUMBER).replace("Ｘ", "ｘ")):
        normalised, warnings = ids.resident_id(typed)
        assert normalised == X_NUMBER
        assert warnings == ["身份证号：已将全角字符转换为半角"]


def test_zero_width_characters_in_a_number_are_removed_with_a_warning():
    normalised, warnings = ids.resident_id("\ufeff" + NUMBER[:6] + "\u200b" + NUMBER[6:])
    assert normalised == NUMBER and warnings == ["身份证号：已去除不可见字符（零宽字符或 BOM）"]


@pytest.mark.parametrize("number", [
    "1329291973120²0724",                                       # superscript two: was HTTP 500
    NUMBER[:-1] + "²",
    "".join(chr(0x0660 + int(c)) for c in NUMBER[:17]) + NUMBER[17],  # Arabic-Indic digits
    "".join(chr(0x06F0 + int(c)) for c in NUMBER[:17]) + NUMBER[17],  # Extended Arabic-Indic
    "".join(chr(0x0966 + int(c)) for c in NUMBER[:17]) + NUMBER[17],  # Devanagari
    NUMBER[:5] + "①" + NUMBER[6:],                               # circled digit (numeric, not decimal)
    "".join(chr(0x1D7CE + int(c)) for c in NUMBER[:17]) + NUMBER[17],  # mathematical bold digits
    "１１０１０５４９１２３１００²",                                # 15 characters, full width and superscript
])
def test_other_digit_scripts_are_refused_never_500(number):
    violation = refused(ids.resident_id, number, "ID_NON_ASCII_DIGIT")
    assert violation.field == "id_number" and "0-9" in violation.description


@pytest.mark.parametrize("number,code", [
    (with_check("00000019800101123"), "ID_REGION"),   # region 000000
    (with_check("99000019800101123"), "ID_FOREIGN_CARD"),   # 9 + province 90
    (with_check("90000019800101123"), "ID_FOREIGN_CARD"),   # 9 + province 00
    (with_check("93199919800101123"), "ID_FOREIGN_CARD"),   # 9 + 31 + nationality 999
    (with_check("99999919800101123"), "ID_FOREIGN_CARD"),
    (with_check("19000019800101123"), "ID_REGION"),   # province 19 does not exist
])
def test_impossible_regions_are_refused(number, code):
    refused(ids.resident_id, number, code)


@pytest.mark.parametrize("number", ["USA110085031501", "usa110085031501", "DEU440019120101", "GBR310070010199"])
def test_old_foreigner_permanent_residence_cards_are_accepted(number):
    assert ids.resident_id(number) == (number.upper(), [])
    assert ids.birth_date(ids.resident_id(number)[0]) < date.today()


def test_birth_date_of_every_accepted_form():
    assert ids.birth_date("USA110085031501") == date(1985, 3, 15)
    assert ids.birth_date(NUMBER) == date(1949, 12, 31)


@pytest.mark.parametrize("number,code", [
    ("QQQ110085031501", "ID_OLD_FOREIGN_CARD"),   # no such nationality code
    ("USA990085031501", "ID_OLD_FOREIGN_CARD"),   # no such province
    ("USA110085023001", "ID_BIRTH_DATE"),         # 30 February
])
def test_bad_old_foreigner_cards_are_refused(number, code):
    refused(ids.resident_id, number, code)


@pytest.mark.parametrize("number,code,text", [
    ("11010519491231002", "ID_LENGTH", "应为 18 位"),
    (NUMBER[:-1] + ("1" if NUMBER[-1] != "1" else "2"), "ID_CHECK_CHARACTER", "校验位不符（GB 11643）"),
    (with_check("11010519490230002"), "ID_BIRTH_DATE", "出生日期不是有效日期"),
    (with_check(f"110105{date.today().year + 1}0101002"), "ID_BIRTH_FUTURE", "晚于今天"),
    (with_check("11010518790101002"), "ID_BIRTH_TOO_EARLY", "1880"),
    ("11010519491231002A", "ID_CHARACTERS", "17 位数字"),
    ("", "REQUIRED", "必填"),
    (110105194912310021, "NOT_A_STRING", "应为文本"),
    (NUMBER[:9] + "\x00" + NUMBER[10:], "CONTROL_CHARACTER", "控制字符"),
])
def test_invalid_numbers(number, code, text):
    violation = refused(ids.resident_id, number, code)
    assert violation.field == "id_number"
    assert violation.message.startswith("身份证号：") and text in violation.message


def test_messages_are_chinese_name_the_field_and_never_echo_the_value():
    bad = NUMBER[:-1] + ("1" if NUMBER[-1] != "1" else "2")
    with pytest.raises(InvalidArgument) as info:
        validate_query(m.MarriageQuery(NUMBER, "张三", spouse_id_number=bad, spouse_name="李四"))
    assert info.value.message == "配偶公民身份号码：校验位不符（GB 11643）"
    assert bad not in info.value.message
    assert not re.search(r"[a-z]{4,}", info.value.message), "no English left in the message"


def test_one_person_one_blind_index_whatever_digits_were_typed():
    index = BlindIndex(b"k" * 32)
    forms = [X_NUMBER, X_NUMBER.lower(), full_width(X_NUMBER), full_width(X_NUMBER.lower()),
             " " + X_NUMBER + "\u200b"]
    queries = [validate_query(m.IdentityQuery(form, "张三"))[0] for form in forms]
    assert {q.id_number for q in queries} == {X_NUMBER}
    assert len({subject_index(index, "VerifyIdentity", q) for q in queries}) == 1
    legacy = validate_query(m.IdentityQuery("110105491231002", "张三"))[0]
    assert legacy.id_number == with_check("11010519491231002")


# ------------------------------------------------------------------ names

@pytest.mark.parametrize("name,expected,warned", [
    ("欧阳娜娜", "欧阳娜娜", False), ("阿依古丽•买买提", "阿依古丽·买买提", False), ("JOHN SMITH", "JOHN SMITH", False),
    (" 张三 ", "张三", False), ("𠀀一", "𠀀一", False),
    ("张 三", "张三", True), ("张\u3000三", "张三", True), ("欧阳 娜 娜", "欧阳娜娜", True),
    ("张\u200b三", "张三", True), ("\ufeff张三", "张三", True), ("张\u200d三\u2060", "张三", True),
    ("艾力.买买提", "艾力·买买提", False), ("艾力 . 买买提", "艾力·买买提", False),
    ("艾力･买买提", "艾力·买买提", False), ("艾力∙买买提", "艾力·买买提", False), ("艾力⋅买买提", "艾力·买买提", False),
    ("艾力•买买提", "艾力·买买提", False), ("艾力‧买买提", "艾力·买买提", False), ("艾力・买买提", "艾力·买买提", False),
    ("艾力．买买提", "艾力·买买提", False), ("艾力 · 买买提", "艾力·买买提", False),
    ("O'BRIEN", "O'BRIEN", False), ("O’BRIEN", "O'BRIEN", False), ("SMITH-JONES", "SMITH-JONES", False),
    ("MÜLLER", "MÜLLER", False), ("MU\u0308LLER", "MÜLLER", False), ("JEAN-LUC O'NEIL", "JEAN-LUC O'NEIL", False),
    ("ＳＭＩＴＨ", "SMITH", False), ("Émilie Du Châtelet", "Émilie Du Châtelet", False),
])
def test_names_accepted(name, expected, warned):
    normalised, warnings = ids.person_name(name)
    assert normalised == expected
    assert bool(warnings) == warned
    assert all(w.startswith("姓名：") for w in warnings)


@pytest.mark.parametrize("name,code", [
    ("", "REQUIRED"), ("\u200b", "REQUIRED"), ("张" * 31, "TOO_LONG"), ("张3", "NAME_CHARACTERS"),
    ("<script>", "MARKUP"), ("张\u202e三", "CONTROL_CHARACTER"), ("·张三", "NAME_SEPARATOR"),
    ("张··三", "NAME_SEPARATOR"), ("O''BRIEN", "NAME_SEPARATOR"), ("SMITH-", "NAME_SEPARATOR"),
    ("ИВАН", "NAME_CHARACTERS"), ("张\ud800三", "INVALID_UNICODE"), ("张\ufffe三", "INVALID_UNICODE"),
    ("JOHN.SMITH", "NAME_CHARACTERS"), (42, "NOT_A_STRING"), (None, "NOT_A_STRING"),
])
def test_names_rejected(name, code):
    violation = refused(ids.person_name, name, code)
    assert violation.message.startswith("姓名：")


@pytest.mark.parametrize("a,b", [
    ("O'BRIEN", "o'brien"), ("O’Brien", "O'BRIEN"), ("müller", "MÜLLER"), ("艾力.买买提", "艾力·买买提"),
    ("张 三", "张三"), ("张\u200b三", "张三"), ("艾力･买买提", "艾力⋅买买提"), ("ＳＭＩＴＨ", "smith"),
    ("北京华鑫科技（集团）有限公司", "北京华鑫科技(集团)有限公司"),
])
def test_names_compare_after_normalisation_and_without_case(a, b):
    assert same_name(a, b) and name_key(a) == name_key(b)


@pytest.mark.parametrize("a,b", [("张三", "张四"), ("SMITH", "SMYTH"), ("", ""), (None, "张三"), ("O'BRIEN", "OBRIEN")])
def test_different_names_differ(a, b):
    assert not same_name(a, b)


# ------------------------------------------------------------------ credit codes

def test_credit_code_checksum_failure_is_a_warning():
    assert ids.credit_code("91110000600037341L") == ("91110000600037341L", [])
    code, warnings = ids.credit_code("91110000600037341M")
    assert code == "91110000600037341M" and warnings == ["统一社会信用代码：校验位不符（可能是 2015 年试点期间赋的码），请核对营业执照"]
    refused(ids.credit_code, "91110000600037341I", "CREDIT_CHARACTERS")


def credit(department: str, category: str, region: str, org8: str) -> str:
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c, 36) * w for c, w in zip(org8, weights)) % 11
    body = department + category + region + org8 + {10: "X", 11: "0"}.get(check, str(check))
    return body + uscc.calc_check_digit(body + "0")


@pytest.mark.parametrize("code", [
    credit("9", "1", "110105", "MA01ABCD"), credit("9", "2", "440300", "L1234567"), credit("5", "3", "100000", "50000123"),
    credit("1", "2", "310000", "42500012"), credit("Y", "1", "650100", "12345678"), credit("N", "2", "320583", "MA1MXY12"),
    "91440300192203821" + uscc.calc_check_digit("914403001922038210"),
])
def test_credit_codes_accepted(code):
    assert ids.credit_code(code) == (code, [])
    assert ids.credit_code(full_width(code.lower()))[0] == code


@pytest.mark.parametrize("code,error", [
    (credit("0", "1", "110105", "60003734"), "CREDIT_DEPARTMENT"),      # starts with 0
    (credit("B", "1", "110105", "60003734"), "CREDIT_DEPARTMENT"),
    (credit("9", "4", "110105", "60003734"), "CREDIT_CATEGORY"),        # 工商 assigns 1, 2, 3 only
    (credit("9", "1", "000000", "60003734"), "CREDIT_REGION"),
    (credit("9", "1", "990000", "60003734"), "CREDIT_REGION"),
    ("91110000600037342L", "CREDIT_ORGANIZATION_CODE"),                  # embedded code's check fails
    ("9111000060003734" + "X" + uscc.calc_check_digit("9111000060003734X0"), "CREDIT_ORGANIZATION_CODE"),
    ("9111000060003734", "CREDIT_LENGTH"),
    ("91110000600037341²", "CREDIT_CHARACTERS"),
])
def test_bad_credit_codes_refused(code, error):
    violation = refused(ids.credit_code, code, error)
    assert violation.message.startswith("统一社会信用代码：")


# ------------------------------------------------------------------ licences, case numbers, divisions

def test_license_codes():
    assert ids.license_code("b0001h111000001") == "B0001H111000001"
    assert ids.license_code(full_width("K0099H111000001")) == "K0099H111000001"
    refused(ids.license_code, "B0001H11100000", "LICENSE_FORMAT")
    refused(ids.license_code, "Z9999Z999999999", "LICENSE_REGION")
    refused(ids.license_code, "B0001H100000001", "LICENSE_REGION")
    refused(ids.license_code, "B0001H11100000²", "LICENSE_FORMAT")


@pytest.mark.parametrize("number,expected", [
    ("（2023）京0105民初1234号", "（2023）京0105民初1234号"),
    ("(2023)京0105民初1234号", "（2023）京0105民初1234号"),
    ("（2021）最高法民终12号", "（2021）最高法民终12号"),
    ("（2019）沪01执异5号", "（2019）沪01执异5号"),
    ("（2014）朝民初字第1234号", "（2014）朝民初字第1234号"),
    ("（2023）京0105执1234号之一", "（2023）京0105执1234号之一"),
    ("（２０２３）京０１０５民初１２３４号", "（2023）京0105民初1234号"),
    ("（2023）京0105民初1234号\u200b", "（2023）京0105民初1234号"),
    *[(f"（2023）京0105{t}7号", f"（2023）京0105{t}7号") for t in ("执协", "执他", "民辖", "民撤", "行保", "强清", "民诉前调")],
])
def test_case_numbers(number, expected):
    assert ids.court_case_number(number) == expected


@pytest.mark.parametrize("number,code", [
    ("2023京0105民初1234号", "CASE_NUMBER_FORMAT"), ("（2023）京0105民X1234号", "CASE_NUMBER_FORMAT"),
    ("（1900）京民初1号", "CASE_NUMBER_YEAR"), ("（2023）京0105民初号", "CASE_NUMBER_FORMAT"),
    ("（2023）京0105民初١٢号", "CASE_NUMBER_FORMAT"), ("（2023）京0105民初12号之", "CASE_NUMBER_FORMAT"),
    ("（2023）京0105民初12号之一二三四", "CASE_NUMBER_FORMAT"), ("（2023）京0105民初1²号", "CASE_NUMBER_FORMAT"),
])
def test_bad_case_numbers(number, code):
    violation = refused(ids.court_case_number, number, code)
    assert violation.message.startswith("案号：")


def test_division_codes_are_ascii_digits():
    assert ids.division_code("110105") == "110105"
    assert ids.division_code("１１０１０５") == "110105"
    refused(ids.division_code, "١١٠١٠٥", "DIVISION_FORMAT")
    refused(ids.division_code, "11010²", "DIVISION_FORMAT")


# ------------------------------------------------------------------ any text field (issue 18 H2)

@pytest.mark.parametrize("value", ["2026-\ud800", "2026-\udfff", "\udc80", "2026-\ufdd0", "2026-\uffff", "2026-\U0010fffe"])
@pytest.mark.parametrize("field", ["case_number", "operator_id", "purpose"])
def test_surrogates_and_noncharacters_are_refused_in_context_fields(value, field):
    fields = {"case_number": "2026-1", "operator_id": "clerk-1", "purpose": "不动产转移登记", field: value}
    with pytest.raises(InvalidArgument) as info:
        validate_context(m.RequestContext(caller="c", request_id="r", **fields))
    assert [v.code for v in info.value.violations] == ["INVALID_UNICODE"]
    assert info.value.violations[0].field == f"context.{field}"


def test_invisible_characters_in_context_fields_are_refused_not_hidden():
    with pytest.raises(InvalidArgument) as info:
        validate_context(m.RequestContext(case_number="2026-\u200b1", operator_id="c", purpose="p", caller="c",
                                          request_id="r"))
    assert info.value.message == "受理编号：含有不可见字符（零宽字符或 BOM）"


@pytest.mark.parametrize("query", [
    m.IdentityQuery(NUMBER, "张\ud800"), m.IdentityQuery(NUMBER + "\ud800", "张三"),
    m.OrganizationQuery(name="华鑫\udfff公司"), m.LicenseQuery(institution_name="银行\ufdd0"),
    m.JudgmentQuery(party_name="张三\ud800"), m.JudgmentQuery(case_number="（2023）京0105民初1号\ud800"),
    m.PlaceNameQuery(name="枫林\ud800路"),
])
def test_surrogates_are_refused_in_every_query_field(query):
    with pytest.raises(InvalidArgument) as info:
        validate_query(query)
    assert [v.code for v in info.value.violations] == ["INVALID_UNICODE"]


# ------------------------------------------------------------------ properties

IDENTIFIER_FIELDS = {
    "id_number": ids.resident_id, "credit_code": ids.credit_code, "license_code": ids.license_code,
    "case_number": ids.court_case_number, "division_code": ids.division_code, "name": ids.person_name,
    "institution_name": ids.organization_name, "place_name": ids.place_name,
}
DIGITS = st.sampled_from("0123456789Xx０１２３４５６７８９Ｘ²³¹٠١٢٣۴५①𝟎" + "\u200b\ufeff\ud800\ufffe")
id_like = st.text(DIGITS, min_size=14, max_size=19) | st.text(max_size=40) | st.builds(
    lambda n, i, c: n[:i] + c + n[i + 1:], st.just(NUMBER), st.integers(0, 17), DIGITS)


@settings(max_examples=500, deadline=None)
@given(field=st.sampled_from(sorted(IDENTIFIER_FIELDS)), value=id_like | st.integers() | st.none())
def test_any_value_in_any_identifier_field_is_normalised_or_a_typed_error(field, value):
    """Never another exception; an accepted value is a fixed point in plain ASCII (names aside)."""
    validate = IDENTIFIER_FIELDS[field]
    try:
        result = validate(value, field)
    except InvalidArgument as exc:
        assert exc.violations and all(v.code in e.MESSAGES and v.field == field for v in exc.violations)
        assert all(v.message.split("：")[0] for v in exc.violations)
        return
    normalised = result[0] if isinstance(result, tuple) else result
    again = validate(normalised, field)
    assert (again[0] if isinstance(again, tuple) else again) == normalised
    if field in ("id_number", "credit_code", "license_code", "division_code"):
        assert normalised.isascii() and normalised == normalised.upper()


@settings(max_examples=300, deadline=None)
@given(body=st.text("0123456789", min_size=17, max_size=17))
def test_full_width_form_of_any_valid_number_normalises_to_the_ascii_form(body):
    number = with_check(body)
    try:
        expected = ids.resident_id(number)[0]
    except InvalidArgument:
        return
    assert ids.resident_id(full_width(number))[0] == expected


def test_every_form_of_one_number_is_the_same_person():
    assert ids.same_resident_id(X_NUMBER, X_NUMBER.lower())
    assert ids.same_resident_id(X_NUMBER, full_width(X_NUMBER))
    assert ids.same_resident_id(with_check("11010519491231002"), "110105491231002")
    assert not ids.same_resident_id(X_NUMBER, NUMBER[:-1] + "0") and not ids.same_resident_id("", "")
    assert ids.same_person_name("o'brien", "O’BRIEN") and not ids.same_person_name("张三", "李四")


# ------------------------------------------------------------------ one set of limits per kind of value

def test_every_text_field_of_a_query_takes_the_limits_its_validator_applies():
    """A query field's limits (OpenAPI, the form's maxlength, the first bound) are the ones of
    the kind of value it holds, which its validator applies (domain/fields.py): never a second
    copy of the numbers that could drift (the spouse's ID number had no minimum)."""
    import dataclasses

    from querynode.core.operations import field_type, registry
    from querynode.domain import fields

    kinds = {v for v in vars(fields).values() if isinstance(v, fields.Limits)}
    loose = [f"{op.name}.{f.name}" for op in registry().operations.values() for f in dataclasses.fields(op.query_type)
             if field_type(op.query_type, f.name) is str and fields.param_of(f).limits not in kinds]
    assert loose == []
    marriage = {f.name: fields.param_of(f) for f in dataclasses.fields(registry().operations["QueryMarriage"].query_type)}
    assert marriage["spouse_id_number"].limits == marriage["id_number"].limits == fields.ID_NUMBER


def test_a_validator_applies_its_kinds_limits():
    from querynode.domain import fields

    with pytest.raises(InvalidArgument) as raised:
        ids.place_name("地" * (fields.PLACE_NAME.max_length + 1))
    assert raised.value.violations[0].code == "TOO_LONG"
    with pytest.raises(InvalidArgument) as raised:
        ids.organization_name("某" * (fields.ORGANIZATION_NAME.max_length + 1))
    assert raised.value.violations[0].code == "TOO_LONG"


def test_invalid_code_points_are_exactly_surrogates_and_non_characters():
    """The one-regex check (text.has_invalid_code_point) against the definition, every code point."""
    from querynode.domain.text import has_invalid_code_point

    def surrogate_or_noncharacter(cp: int) -> bool:  # the definition
        return 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE

    flagged = [cp for cp in range(0x110000) if has_invalid_code_point(chr(cp))]
    assert flagged == [cp for cp in range(0x110000) if surrogate_or_noncharacter(cp)]
    assert len(flagged) == 2048 + 32 + 34
    assert has_invalid_code_point("张三\U0010ffff") and not has_invalid_code_point("张三\U0010fffd")
