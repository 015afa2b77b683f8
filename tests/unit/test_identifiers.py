"""Unified social credit codes, resident ID numbers, mobile numbers and their masks.

Valid numbers are built here with check characters computed independently of the code under test
(the GB 32100 and ISO 7064 MOD 11-2 weights are written out below), so a shared mistake in stdnum
and in bot.rules would still be caught.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.identifiers import (
    SOFT_REASONS,
    birth_date,
    mask_mobile,
    mask_resident_id,
    parse_mobile,
    parse_resident_id,
    parse_uscc,
)
from bot.rules.values import Invalid

TODAY = date(2026, 3, 1)

# --- independent check-character calculations ---------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_uscc(body: str) -> str:
    assert len(body) == 17
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def make_ric(body: str) -> str:
    assert len(body) == 17 and body.isdigit()
    total = sum(int(c) * w for c, w in zip(body, RIC_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def reason(result: object) -> str:
    assert isinstance(result, Invalid), f"expected Invalid, got {result!r}"
    return result.reason


# --- unified social credit code -----------------------------------------------------------------


def test_helper_agrees_with_a_published_code() -> None:
    # The example in python-stdnum's documentation (a Beijing enterprise).
    assert make_uscc("91110000600037341") == "91110000600037341L"


@pytest.mark.parametrize(
    "code",
    [
        "91110000600037341L",
        "91440300MA5FQW12KX",  # Shenzhen enterprise, post-2016 "MA" organisation code
        "12100000400000624D",  # central public institution, region 100000
        "N2440300MA5FQW12KD",  # village collective economic organisation (农业)
        "Y1440300MA5FQW12K8",  # "other" registration authority
        "A1440300MA5FQW12KW",  # military public institution
    ],
)
def test_uscc_valid_codes_including_letter_first(code: str) -> None:
    assert make_uscc(code[:17]) == code
    assert parse_uscc(code) == code


@pytest.mark.parametrize(
    "typed",
    [
        "91440300ma5fqw12kx",
        " 9144 0300 MA5F QW12 KX ",
        "9144-0300-MA5F-QW12-KX",
        "9144\u20140300\u2013MA5FQW12KX",
        "９１４４０３００ＭＡ５ＦＱＷ１２ＫＸ",
        "９１４４０３００\u3000ｍａ５ｆｑｗ１２ｋｘ",
    ],
)
def test_uscc_normalisation(typed: str) -> None:
    assert parse_uscc(typed) == "91440300MA5FQW12KX"


def test_uscc_wrong_check_character_is_the_soft_reason() -> None:
    result = parse_uscc("91440300MA5FQW12K9")
    assert result == Invalid("uscc.check", {"value": "91440300MA5FQW12K9", "expected": "X"})
    assert reason(result) in SOFT_REASONS


def test_uscc_letter_first_with_wrong_check_is_soft_too() -> None:
    assert reason(parse_uscc("N2440300MA5FQW12K1")) == "uscc.check"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", Invalid("uscc.length", {"length": 0})),
        ("91440300MA5FQW12K", Invalid("uscc.length", {"length": 17})),
        ("91440300MA5FQW12KXX", Invalid("uscc.length", {"length": 19})),
        ("01440300MA5FQW12KX", Invalid("uscc.authority", {"authority": "0"})),
        ("B1440300MA5FQW12KX", Invalid("uscc.authority", {"authority": "B"})),
        ("91440300MO5FQW12KX", Invalid("uscc.charset", {"chars": "O"})),
        ("91440300MA5FQW1IZX", Invalid("uscc.charset", {"chars": "IZ"})),
        ("91440300MA5FQW12K?", Invalid("uscc.charset", {"chars": "?"})),
        ("9144030SMA5FQW12KX", Invalid("uscc.charset", {"chars": "S"})),
        ("91A40300MA5FQW12KX", Invalid("uscc.region")),
    ],
)
def test_uscc_hard_errors(typed: str, expected: Invalid) -> None:
    result = parse_uscc(typed)
    assert result == expected
    assert reason(result) not in SOFT_REASONS


USCC_CHARS = st.sampled_from(USCC_ALPHABET)
USCC_BODIES = st.builds(
    lambda authority, kind, region, org: authority + kind + region + org,
    st.sampled_from("123456789ANY"),
    USCC_CHARS,
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
)


@given(USCC_BODIES, st.data())
def test_uscc_any_valid_code_parses_to_itself_however_typed(body: str, data: st.DataObject) -> None:
    code = make_uscc(body)
    assert parse_uscc(code) == code
    split = data.draw(st.integers(0, 18))
    typed = code[:split].lower() + data.draw(st.sampled_from([" ", "-", "", "  "])) + code[split:]
    assert parse_uscc(typed) == code


@given(USCC_BODIES, st.integers(0, 17), USCC_CHARS)
def test_uscc_every_single_substitution_is_caught(body: str, position: int, char: str) -> None:
    code = make_uscc(body)
    mutated = code[:position] + char + code[position + 1 :]
    if mutated == code:
        return
    result = parse_uscc(mutated)
    assert isinstance(result, Invalid)
    if position == 0 and char not in "123456789ANY":
        assert result.reason == "uscc.authority"
    elif 2 <= position <= 7 and not char.isdigit():
        assert result.reason == "uscc.region"
    else:
        # Everything else is well formed, so only the check character can notice: it must.
        assert result.reason == "uscc.check"


# --- resident ID numbers ------------------------------------------------------------------------


def test_ric_helper_agrees_with_a_published_number() -> None:
    assert make_ric("36042619910101007") == "360426199101010071"


@pytest.mark.parametrize(
    "number",
    [
        "440301199001011234",  # Shenzhen Futian, born 1990-01-01
        "44030119850615018X",  # X as check character
        "360426199101010071",
        "810000199001011230",  # Hong Kong residents' residence permit
        "820000199001011240",  # Macau
        "830000199001011250",  # Taiwan
        "94484019850101123X",  # foreigners' permanent residence ID: 9, 44 Guangdong, 840 USA
        "440301200002290015",  # 29 February of a leap year
    ],
)
def test_ric_valid_numbers(number: str) -> None:
    assert make_ric(number[:17]) == number
    assert parse_resident_id(number, TODAY) == number


@pytest.mark.parametrize(
    "typed",
    [
        "44030119850615018x",
        " 440301 19850615 018X ",
        "４４０３０１１９８５０６１５０１８ｘ",
        # grouped with dashes, as a USCC may be
        "440301-19850615-018X",
        "440301\u201419850615\u2013018x",
        "４４０３０１－１９８５０６１５－０１８Ｘ",
        "440301 1985-0615 018X",
    ],
)
def test_ric_normalisation(typed: str) -> None:
    assert parse_resident_id(typed, TODAY) == "44030119850615018X"


def test_ric_born_today_is_accepted_born_tomorrow_is_not() -> None:
    assert parse_resident_id(make_ric("44030120260301123"), TODAY) == make_ric("44030120260301123")
    assert reason(parse_resident_id(make_ric("44030120260302123"), TODAY)) == "ric.birth_future"
    assert reason(parse_resident_id(make_ric("94484020300101123"), TODAY)) == "ric.birth_future"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("44030119900230123", "ric.birth_date"),  # 30 February
        ("44030119000229123", "ric.birth_date"),  # 1900 was no leap year
        ("44030119901301123", "ric.birth_date"),
        ("44030100000101123", "ric.birth_date"),  # year 0
        ("94484019901232123", "ric.birth_date"),
        ("10030119900101123", "ric.area"),
        ("39030119900101123", "ric.area"),
        ("66030119900101123", "ric.area"),
        ("81010019900101123", "ric.permit_area"),  # HK permits carry exactly 810000
        ("83000119900101123", "ric.permit_area"),
        ("98184019900101123", "ric.foreigner_area"),  # foreigners' IDs are issued in the mainland only
        ("90084019900101123", "ric.foreigner_area"),
    ],
)
def test_ric_well_checked_but_impossible(body: str, expected: str) -> None:
    assert reason(parse_resident_id(make_ric(body), TODAY)) == expected


def test_ric_area_reasons_name_the_digits_that_are_wrong() -> None:
    # A resident ID: the region code's first two digits; a foreigner's ID: digits 2-3.
    assert parse_resident_id(make_ric("10030119900101123"), TODAY) == Invalid("ric.area", {"province": "10"})
    assert parse_resident_id(make_ric("98184019900101123"), TODAY) == Invalid("ric.foreigner_area", {"province": "81"})
    assert parse_resident_id(make_ric("82010019900101123"), TODAY) == Invalid("ric.permit_area")


def test_birth_date_of_every_kind_of_number() -> None:
    assert birth_date("44030119850615018X") == date(1985, 6, 15)
    assert birth_date(make_ric("81000019900101123")) == date(1990, 1, 1)
    assert birth_date(make_ric("94484020150101123")) == date(2015, 1, 1)


def test_ric_taiwan_province_code_is_accepted() -> None:
    number = make_ric("71000019900101123")
    assert parse_resident_id(number, TODAY) == number


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", Invalid("ric.length", {"length": 0})),
        ("440301900101123", Invalid("ric.length", {"length": 15})),  # first-generation 15 digits
        ("4403011990010112345", Invalid("ric.length", {"length": 19})),
        ("4403011990010112X4", Invalid("ric.format")),
        ("44030119900101123Y", Invalid("ric.format")),
        ("ABC123456789012345", Invalid("ric.format")),
        ("440301199001011235", Invalid("ric.check")),
        ("440301199001011233", Invalid("ric.check")),
        ("44030119850615018 1", Invalid("ric.check")),
    ],
)
def test_ric_malformed(typed: str, expected: Invalid) -> None:
    assert parse_resident_id(typed, TODAY) == expected


AREAS = st.sampled_from(["440301", "440305", "110101", "310115", "650102", "810000", "830000"])
BIRTHS = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
SEQUENCES = st.integers(0, 999).map(lambda n: f"{n:03d}")


def _ric_body(area: str, born: date, sequence: str) -> str:
    return area + born.strftime("%Y%m%d") + sequence


RIC_BODIES = st.one_of(
    st.builds(_ric_body, AREAS, BIRTHS, SEQUENCES),
    # foreigners' ID: 9, province of issue, ISO 3166-1 numeric nationality
    st.builds(
        lambda province, nationality, born, sequence: "9" + province + nationality
        + born.strftime("%Y%m%d") + sequence,
        st.sampled_from(["11", "31", "44", "65"]),
        st.sampled_from(["840", "250", "392", "826"]),
        BIRTHS,
        SEQUENCES,
    ),
)


@given(RIC_BODIES)
def test_ric_any_valid_number_parses_to_itself(body: str) -> None:
    number = make_ric(body)
    assert parse_resident_id(number, TODAY) == number
    assert parse_resident_id(number.lower(), TODAY) == number


@given(RIC_BODIES, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_ric_every_single_substitution_is_caught(body: str, position: int, char: str) -> None:
    number = make_ric(body)
    mutated = number[:position] + char + number[position + 1 :]
    if mutated == number:
        return
    expected = "ric.format" if char == "X" and position < 17 else "ric.check"
    assert reason(parse_resident_id(mutated, TODAY)) == expected


# --- mobile numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "(+86) 138 0013 8000",
        "(86)13800138000",
        "8613800138000",
        "86 138 0013 8000",
        "0086 13800138000",
        "0086-138-0013-8000",
        "１３８００１３８０００",
        "＋８６ １３８ ００１３ ８０００",
        " 13800138000 ",
    ],
)
def test_mobile_accepted_forms(typed: str) -> None:
    assert parse_mobile(typed) == "13800138000"


@pytest.mark.parametrize("first_two", ["13", "14", "15", "16", "17", "18", "19"])
def test_mobile_all_prefixes(first_two: str) -> None:
    assert parse_mobile(first_two + "912345678") == first_two + "912345678"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "138001380001",  # 12 digits
        "1380013800",  # 10 digits
        "12800138000",  # starts 12
        "10800138000",
        "23800138000",
        "0755-88888888",  # Shenzhen landline
        "075588888888",
        "+86 755 8888 8888",
        "+852 9123 4567",  # Hong Kong
        "+1 13800138000",
        "86 12800138000",
        "138001380OO",
        "138.0013.8000",
        "138001380000x",
    ],
)
def test_mobile_rejected(typed: str) -> None:
    assert parse_mobile(typed) == Invalid("mobile.format")


@given(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9))
def test_mobile_property(second: str, rest: str) -> None:
    number = "1" + second + rest
    assert parse_mobile(number) == number
    assert parse_mobile("+86 " + number) == number
    assert parse_mobile(number[:-1]) == Invalid("mobile.format")


# --- masks --------------------------------------------------------------------------------------


def test_masks() -> None:
    assert mask_resident_id("440301199001011234") == "440301********1234"
    assert mask_resident_id("44030119850615018X") == "440301********018X"
    assert mask_mobile("13800138000") == "138****8000"


def test_masks_never_show_all_of_a_short_value() -> None:
    assert mask_resident_id("1234567890") == "**********"
    assert mask_mobile("1380013") == "*******"
    assert mask_mobile("") == ""
