"""Identifier validation (DOMAIN.md §2), value by value."""
from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from querynode.domain import identifiers as ids
from querynode.domain.errors import InvalidArgument


def with_check(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def test_valid_number_and_lower_x():
    number = next(with_check(f"11010519491231{s:03d}") for s in range(1000) if with_check(f"11010519491231{s:03d}")[-1] == "X")
    assert ids.resident_id(number.lower()) == (number, [])


@pytest.mark.parametrize("number", [
    with_check("81000019800101123"), with_check("82000019800101123"), with_check("83000019800101123"),
    with_check("93184019800101123"),  # foreigner's permanent residence card: 9 + 31 + 840 (USA)
])
def test_permits_and_foreigner_cards_are_valid_without_warning(number):
    assert ids.resident_id(number) == (number, [])


def test_unknown_county_is_a_warning_not_an_error():
    number = with_check("11019919800101123")
    normalised, warnings = ids.resident_id(number)
    assert normalised == number and len(warnings) == 1 and number not in warnings[0]


def test_county_created_after_birth_is_accepted():
    # 110112 (通州区) exists since 1997; older people's cards carry it anyway.
    number = with_check("11011219500101123")
    assert ids.resident_id(number)[0] == number


def test_legacy_15_digit_is_converted():
    normalised, warnings = ids.resident_id("110105491231002")
    assert normalised == with_check("11010519491231002") and warnings


@pytest.mark.parametrize("number,reason", [
    ("11010519491231002", "18 characters"),
    (with_check("11010519490230002"), "not a real date"),
    (with_check(f"110105{date.today().year + 1}0101002"), "future"),
    ("11010519491231002A", "digit or X"),
    ("", "required"),
])
def test_invalid_numbers(number, reason):
    with pytest.raises(InvalidArgument) as info:
        ids.resident_id(number)
    assert info.value.violations[0].field == "id_number"
    assert reason in info.value.violations[0].description


@pytest.mark.parametrize("name,expected", [
    ("欧阳娜娜", "欧阳娜娜"), ("阿依古丽•买买提", "阿依古丽·买买提"), ("JOHN SMITH", "JOHN SMITH"), (" 张三 ", "张三"),
    ("𠀀一", "𠀀一"),
])
def test_names_accepted(name, expected):
    assert ids.person_name(name) == expected


@pytest.mark.parametrize("name", ["", "张" * 31, "张3", "<script>", "张\u202e三", "·张三", "张··三", 42, None])
def test_names_rejected(name):
    with pytest.raises(InvalidArgument):
        ids.person_name(name)


def test_credit_code_checksum_failure_is_a_warning():
    assert ids.credit_code("91110000600037341L") == ("91110000600037341L", [])
    code, warnings = ids.credit_code("91110000600037341M")
    assert warnings
    with pytest.raises(InvalidArgument):
        ids.credit_code("91110000600037341I")


@pytest.mark.parametrize("number,expected", [
    ("（2023）京0105民初1234号", "（2023）京0105民初1234号"),
    ("(2023)京0105民初1234号", "（2023）京0105民初1234号"),
    ("（2021）最高法民终12号", "（2021）最高法民终12号"),
    ("（2019）沪01执异5号", "（2019）沪01执异5号"),
    ("（2014）朝民初字第1234号", "（2014）朝民初字第1234号"),
])
def test_case_numbers(number, expected):
    assert ids.court_case_number(number) == expected


@pytest.mark.parametrize("number", ["2023京0105民初1234号", "（2023）京0105民X1234号", "（1900）京民初1号", "（2023）京0105民初号"])
def test_bad_case_numbers(number):
    with pytest.raises(InvalidArgument):
        ids.court_case_number(number)


def test_license_codes():
    assert ids.license_code("b0001h111000001") == "B0001H111000001"
    with pytest.raises(InvalidArgument):
        ids.license_code("B0001H11100000")
