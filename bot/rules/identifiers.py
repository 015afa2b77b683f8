"""Chinese identifiers: unified social credit code, resident ID number, mobile number; masking.

Each `parse_*` function returns the normalised value or an `Invalid` (see `bot.rules.values`).
Input is folded from full-width to ASCII first (NFKC), so "９１４４０３００ＭＡ…" is read as typed
on a phone keyboard with a Chinese IME.

Reason codes and their params, in the order they are checked (the first failure is returned):

    uscc.length        not 18 characters after removing spaces and dashes     {length}
    uscc.charset       characters outside 0-9 A-H J-N P-R T-U W-Y             {chars}
    uscc.authority     1st character is no registration authority             {authority}
    uscc.region        characters 3-8 are not six digits                      {}
    uscc.check         well formed, but the check character does not match    {value, expected}
                       SOFT: the only code staff may override (see SOFT_REASONS). Some codes
                       issued before 2016 really do fail the check, so users are asked to
                       re-check, not told the code is wrong. `value` is the normalised code
                       to store if staff accept it; `expected` is for staff eyes only: showing
                       it to users would let any typo be "fixed" into a code that passes.
    ric.length         not 18 characters after removing spaces and dashes     {length}
    ric.format         not 17 digits followed by a digit or X                 {}
    ric.check          the ISO 7064 MOD 11-2 check character does not match   {}
    ric.area           the region code (digits 1-6) starts with no province   {province}
                       (its first two digits)
    ric.permit_area    an HK/Macau/Taiwan residence permit (81, 82, 83) whose {}
                       region code (digits 1-6) is not exactly 810000/820000/830000
    ric.foreigner_area a foreigners' permanent residence ID (9...) whose       {province}
                       province of issue (digits 2-3) is no mainland province
    ric.birth_date     digits 7-14 are not a calendar date                    {}
    ric.birth_future   the birth date is after `today`                        {}
    mobile.format      not a mainland mobile number                           {}
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError

from bot.rules.values import Invalid, fold

__all__ = [
    "SOFT_REASONS",
    "birth_date",
    "mask_mobile",
    "mask_resident_id",
    "parse_mobile",
    "parse_resident_id",
    "parse_uscc",
]

# Reasons a member of staff may override after looking at the paper document.
SOFT_REASONS: Final = frozenset({"uscc.check"})

# Separators people paste: ASCII and full-width spaces (NFKC makes U+3000 a space), the hyphen and
# the Unicode dashes that word processors substitute for it.
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015"  # for a regex character class

# ---------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# ---------------------------------------------------------------------------------------------

# GB 32100 leaves out I, O, S, V and Z, which read like 1, 0, 5, U and 2.
_USCC_CHARSET: Final = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")
# Registration authorities: 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政, 6 旅游, 7 宗教, 8 工会,
# 9 市场监管 (工商), A 中央军委改革和编制办公室, N 农业, Y 其他. stdnum demands a digit here and so
# refuses the A, N and Y codes in use since 2016; that is why stdnum's validate() is not used.
_USCC_AUTHORITIES: Final = frozenset("123456789ANY")
# The 2nd character (entity type) is not checked against a table: the standard lets every
# authority define its own types, in digits or letters, so any table here would go stale.
# Characters 9-17 (the organisation code) carry their own GB 11714 check digit, but it is not
# verified: codes of individual businesses (92…) are known not to always satisfy it.


def _uscc_check_character(code: str) -> str:
    # stdnum's calculation is right for any first character: it weighs characters 1-17 by
    # (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28) and takes 31 - sum mod 31.
    return stdnum_uscc.calc_check_digit(code[:17])


def parse_uscc(text: str) -> str | Invalid:
    """A unified social credit code, upper-cased, without spaces or dashes."""
    code = re.sub(rf"[\s{_DASHES}]", "", fold(text)).upper()
    if len(code) != 18:
        return Invalid("uscc.length", {"length": len(code)})
    bad = sorted(set(code) - _USCC_CHARSET)
    if bad:
        return Invalid("uscc.charset", {"chars": "".join(bad)})
    if code[0] not in _USCC_AUTHORITIES:
        return Invalid("uscc.authority", {"authority": code[0]})
    if not code[2:8].isdigit():
        return Invalid("uscc.region")
    expected = _uscc_check_character(code)
    if code[17] != expected:
        return Invalid("uscc.check", {"value": code, "expected": expected})
    return code


# ---------------------------------------------------------------------------------------------
# Resident ID number (GB 11643-1999) and the numbers built like it
# ---------------------------------------------------------------------------------------------

# Province-level codes of GB/T 2260 in the mainland.
_MAINLAND_PROVINCES: Final = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)]
)
# 71 Taiwan is a GB/T 2260 code found on some resident IDs. 81, 82, 83 are the Hong Kong, Macau
# and Taiwan residents' residence permits (2018), whose area code is exactly 810000/820000/830000;
# stdnum refuses them because its county table lacks those codes.
_PERMIT_AREAS: Final = frozenset({"810000", "820000", "830000"})
# The foreigners' permanent residence ID card of 2023-12 (国家移民管理局, 机读信息规则 2023版):
#   9 | province of issue (2) | nationality, ISO 3166-1 numeric (3) | birth date YYYYMMDD (8) |
#   sequence (3) | MOD 11-2 check character.
# So the birth date sits at positions 7-14 as on a resident ID, and positions 2-3 must be a
# mainland province. The nationality is not checked against the ISO list. The older 15-character
# card (three letters and twelve digits) is not accepted here. The "91 国外" code of older
# validators is covered: every number starting with 9 is read as this card.
_FOREIGNER_MARK: Final = "9"
_RIC_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def _ric_area_problem(number: str) -> Invalid | None:
    """What is wrong with the region part, said of the digits that are wrong."""
    if number[0] == _FOREIGNER_MARK:
        ok = int(number[1:3]) in _MAINLAND_PROVINCES
        return None if ok else Invalid("ric.foreigner_area", {"province": number[1:3]})
    province = int(number[:2])
    if province in (81, 82, 83):
        return None if number[:6] in _PERMIT_AREAS else Invalid("ric.permit_area")
    ok = province in _MAINLAND_PROVINCES or province == 71
    return None if ok else Invalid("ric.area", {"province": number[:2]})


def parse_resident_id(text: str, today: date) -> str | Invalid:
    """A resident ID, HK/Macau/Taiwan residence permit or foreigners' permanent residence ID.

    Returns the 18 characters with an upper-case X. `today` bounds the birth date (a birth date
    in the future, which stdnum lets through, is refused). The county part of the area code is
    not checked: stdnum's county table refuses codes newer than its release.
    """
    # Spaces and dashes as people group the digits ("440301-19850615-018X"), as for a USCC.
    number = re.sub(rf"[\s{_DASHES}]", "", fold(text)).upper()
    if len(number) != 18:
        return Invalid("ric.length", {"length": len(number)})
    if not _RIC_SHAPE.fullmatch(number):
        return Invalid("ric.format")
    # stdnum's MOD 11-2 is pure arithmetic on the 17 digits, right for all three kinds of number.
    if number[17] != stdnum_ric.calc_check_digit(number):
        return Invalid("ric.check")
    area_problem = _ric_area_problem(number)
    if area_problem is not None:
        return area_problem
    try:
        birth = birth_date(number)
    except ValidationError:
        return Invalid("ric.birth_date")
    if birth > today:
        return Invalid("ric.birth_future")
    return number


def birth_date(number: str) -> date:
    """The birth date carried by digits 7-14 of a number `parse_resident_id` accepted (all three
    kinds of number keep it there). Raises stdnum's ValidationError for a date that does not exist."""
    return stdnum_ric.get_birth_date(number)


def mask_resident_id(value: str) -> str:
    """First 6 and last 4 characters shown: "440301********1234"."""
    return _mask(value, keep_start=6, keep_end=4)


# ---------------------------------------------------------------------------------------------
# Mobile numbers
# ---------------------------------------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_NOISE = re.compile(rf"[\s(){_DASHES}]")


def parse_mobile(text: str) -> str | Invalid:
    """A mainland mobile number as its 11 digits; "+86", "86" and "0086" prefixes are dropped."""
    number = _MOBILE_NOISE.sub("", fold(text))
    if number.startswith("+86"):
        number = number[3:]
    elif number.startswith("0086"):
        number = number[4:]
    elif number.startswith("86") and len(number) == 13:
        # Only with 13 digits: no mobile number starts with 86, but the length makes it certain.
        number = number[2:]
    if not _MOBILE.fullmatch(number):
        return Invalid("mobile.format")
    return number


def mask_mobile(value: str) -> str:
    """First 3 and last 4 digits shown: "138****8000"."""
    return _mask(value, keep_start=3, keep_end=4)


# A resident ID (its check character right) or a mobile (grouped by spaces or dashes, or not) inside
# free text, not part of a longer run of digits or letters.
_NUMBER_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|1[3-9][0-9](?:[ -]?[0-9]){8})(?![0-9A-Za-z])")


def mask_numbers_in_text(text: str) -> str:
    """Free text (an objection, an explanation, a note) with the ID and mobile numbers someone
    typed into it masked as the chat masks them; everything else as it is."""

    def masked(match: re.Match[str]) -> str:
        found = match.group(0)
        if len(found) == 18:
            number = found.upper()
            return mask_resident_id(number) if number[17] == stdnum_ric.calc_check_digit(number) else found
        return mask_mobile(re.sub(r"[ -]", "", found))

    return _NUMBER_IN_TEXT.sub(masked, text)


def _mask(value: str, *, keep_start: int, keep_end: int) -> str:
    # Too short to show both ends without revealing nearly all of it: hide everything.
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + value[-keep_end:]
