"""Parsing of everyday form values: dates, money, counts, free text, e-mail; month arithmetic.

Every `parse_*` function takes what the user typed and returns either the normalised value or an
`Invalid` whose `reason` is a short stable code. Handlers map the code to a translated message and
fill it from `params` (the locale templates use `str.format`, so dates print as 2026-03-01).
`Invalid` is defined here and shared by `bot.rules.identifiers`.
Full-width input (`２０２６年３月１日`, `３０万`, `１２人`) is folded to ASCII first (NFKC).

Reason codes and their params:

    date.format              not a date in an accepted form                       {}
    date.invalid             a calendar day that does not exist (2026-02-30)      {year, month, day}
    date.too_early           before `not_before`                                  {not_before}
    date.too_late            after `not_after`                                    {not_after}
    money.format             not an amount in an accepted form                    {}
    money.negative           below zero                                           {}
    money.too_many_decimals  finer than a fen once 万/亿 is applied               {places}
    money.too_large          above `maximum`                                      {maximum}
    count.format             not a whole number (thousands grouped by three: 1,200) {}
    count.too_small          below `minimum` (includes negative numbers)          {minimum}
    count.too_large          above `maximum`                                      {maximum}
    text.empty               nothing left after stripping                         {}
    text.too_short           fewer than `min_length` letters or digits            {min_length}
    text.too_long            longer than `max_length`                             {max_length}
    email.format             not a plausible e-mail address                       {}
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, localcontext

__all__ = [
    "Invalid",
    "add_months",
    "age_on",
    "fold",
    "months_between",
    "parse_count",
    "parse_date",
    "parse_email",
    "parse_money",
    "parse_text",
    "term_last_day",
    "years_apart_at_least",
]


@dataclass(frozen=True)
class Invalid:
    """Why a value was refused: `reason` is a stable code, `params` fill the translated message."""

    reason: str
    # Left out of the hash so an Invalid stays hashable although a dict is not.
    params: dict[str, object] = field(default_factory=dict, hash=False)


def fold(text: str) -> str:
    """Full-width letters, digits and punctuation to ASCII (NFKC), as typed with a Chinese IME."""
    return unicodedata.normalize("NFKC", text)


# Dates and amounts longer than this are refused before any regex or Decimal work: no real one is
# that long, and it bounds the cost of hostile input.
_MAX_FIELD_CHARS = 64

# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

# [0-9], not \d: \d also matches other scripts' digits, which NFKC leaves alone.
_DATE_PATTERNS = (
    # One separator used throughout: "2026-3/1" is more likely a typo than a date.
    re.compile(r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
    # As contracts write it, optionally with the 自/至 ... 起/止 of "自2024年3月1日起至2026年2月28日止".
    re.compile(r"[自从至到]?\s*(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*[日号]?\s*[起止]?"),
)


def parse_date(
    text: str, *, not_before: date | None = None, not_after: date | None = None
) -> date | Invalid:
    """2026-03-01, 2026/3/1, 2026.3.1, 20260301, 2026年3月1日 or 自2026年3月1日起; bounds are inclusive."""
    cleaned = fold(text).strip()
    if len(cleaned) > _MAX_FIELD_CHARS:
        return Invalid("date.format")
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(cleaned)
        if match:
            year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
            break
    else:
        return Invalid("date.format")
    try:
        value = date(year, month, day)
    except ValueError:
        return Invalid("date.invalid", {"year": year, "month": month, "day": day})
    if not_before is not None and value < not_before:
        return Invalid("date.too_early", {"not_before": not_before})
    if not_after is not None and value > not_after:
        return Invalid("date.too_late", {"not_after": not_after})
    return value


# ---------------------------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
# Thousands separators must group by three: "1,5" might be a European decimal comma, and reading
# it as 15 would silently record the wrong amount.
_MONEY = re.compile(
    r"""
    (?P<sign>-)?\s*
    (?:¥|RMB|CNY|人民币)?\s*
    (?P<sign2>-)?\s*
    (?P<int>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)
    (?:\.(?P<frac>[0-9]+))?
    \s*(?P<unit>万|亿)?
    \s*(?:元|圆)?
    """,
    re.VERBOSE | re.IGNORECASE,
)
# NFKC folds the full-width minus (U+FF0D) but not these.
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-"})


def parse_money(text: str, *, maximum: Decimal | None = None) -> Decimal | Invalid:
    """A CNY amount: "300000", "300,000", "30万", "30万元", "¥300,000.50", "300000元".

    Returns the amount in yuan with exactly two decimals (Decimal("300000.00")). "30.5万" is
    305000.00; decimals are judged after 万/亿 is applied, so "1.23456万" (12345.60) is fine.
    """
    cleaned = fold(text).translate(_MINUS_SIGNS).strip()
    if len(cleaned) > _MAX_FIELD_CHARS:
        return Invalid("money.format")
    match = _MONEY.fullmatch(cleaned)
    if match is None or (match["sign"] and match["sign2"]):
        return Invalid("money.format")
    digits = match["int"].replace(",", "")
    if match["frac"]:
        digits += "." + match["frac"]
    # Enough precision that no accepted input (bounded above) is ever rounded.
    with localcontext() as ctx:
        ctx.prec = 2 * _MAX_FIELD_CHARS
        value = Decimal(digits) * _UNITS.get(match["unit"] or "", Decimal(1))
        if value != 0 and (match["sign"] or match["sign2"]):
            return Invalid("money.negative")
        if value != value.quantize(_CENT):
            return Invalid("money.too_many_decimals", {"places": 2})
        # abs() also turns "-0" into a plain 0.00.
        value = abs(value).quantize(_CENT)
    if maximum is not None and value > maximum:
        return Invalid("money.too_large", {"maximum": maximum})
    return value


# ---------------------------------------------------------------------------------------------
# Counts
# ---------------------------------------------------------------------------------------------

# 18 digits is far beyond any head count and keeps int() away from its digit limit. Thousands
# separators must group by three, as for money: "1,20" is a typo, not 120.
# A measure word people type after the number ("12人", "3 项", "2次", "4个月") is welcome.
_COUNT = re.compile(r"([+-]?)([0-9]{1,18}|[0-9]{1,3}(?:,[0-9]{3}){1,5})\s*(?:个月|個月|[人名个個项項次场場期门門本套件台月])?")


def parse_count(text: str, *, minimum: int = 0, maximum: int | None = None) -> int | Invalid:
    """A whole number such as "12", "１２", "1,200", "12人", "3 项", "4个月"; bounds are inclusive."""
    cleaned = fold(text).translate(_MINUS_SIGNS).strip()
    match = _COUNT.fullmatch(cleaned)
    if match is None:
        return Invalid("count.format")
    value = int(match[2].replace(",", ""))
    if match[1] == "-":
        value = -value
    if value < minimum:
        return Invalid("count.too_small", {"minimum": minimum})
    if maximum is not None and value > maximum:
        return Invalid("count.too_large", {"maximum": maximum})
    return value


# ---------------------------------------------------------------------------------------------
# Free text and e-mail
# ---------------------------------------------------------------------------------------------

# C0/C1 control characters other than tab and newline: invisible in the chat, and PostgreSQL
# refuses NUL in text columns outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def parse_text(text: str, *, min_length: int = 1, max_length: int = 200) -> str | Invalid:
    """Free text, stripped, with control characters removed.

    `max_length` counts every character (the default matches the 200-character name columns of the
    schema). `min_length` counts letters and digits only (a Chinese character is a letter), so "。。。。。"
    or "- - -" is no description however long it is.
    """
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n")).strip()
    if not cleaned:
        return "" if min_length <= 0 else Invalid("text.empty")
    if sum(ch.isalnum() for ch in cleaned) < min_length:
        return Invalid("text.too_short", {"min_length": min_length})
    if len(cleaned) > max_length:
        return Invalid("text.too_long", {"max_length": max_length})
    return cleaned


# A pragmatic subset of RFC 5322 that real providers (qq.com, 163.com, corporate domains) use:
# dot-atom local part, ASCII host names with a letter TLD. Quoted local parts and IP literals are
# refused; nobody in this audience uses them and they are a favourite of injection attempts.
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_EMAIL_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def parse_email(text: str) -> str | Invalid:
    """An e-mail address; the domain is lower-cased, the local part kept as typed.

    Full-width "＠" and "．" typed with a Chinese IME are folded to ASCII first.
    """
    cleaned = fold(text).strip()
    # 254 is the longest address that fits in an SMTP path; 64 the longest local part.
    if len(cleaned) > 254 or cleaned.count("@") != 1:
        return Invalid("email.format")
    local, domain = cleaned.split("@")
    labels = domain.split(".")
    if (
        len(local) > 64
        or not _EMAIL_LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_EMAIL_LABEL.fullmatch(label) for label in labels)
        or not _EMAIL_TLD.fullmatch(labels[-1])
    ):
        return Invalid("email.format")
    return f"{local}@{domain.lower()}"


# ---------------------------------------------------------------------------------------------
# Month arithmetic
# ---------------------------------------------------------------------------------------------


def add_months(d: date, months: int) -> date:
    """`d` moved by whole months; a day the target month lacks becomes its last day.

    This is the rule of the Civil Code, art. 203: a period ends on the corresponding day of the
    final month, or on that month's last day when it has no corresponding day. So 01-31 + 1 month
    is 02-28 (02-29 in a leap year) and 2024-02-29 + 12 months is 2025-02-28.
    """
    years, month_index = divmod(d.month - 1 + months, 12)
    year = d.year + years
    month = month_index + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end`: the largest n with add_months(start, n) <= end.

    Negative when `end` is before `start` (the same count, measured from `end`). Consistent with
    `add_months`: months_between(d, add_months(d, n)) == n for every n >= 0. To enforce a limit
    ("extension at most 6 months") compare dates with `add_months`, which keeps the days:
    `new_end <= add_months(old_end, 6)`.
    """
    if end < start:
        return -months_between(end, start)
    months = (end.year - start.year) * 12 + (end.month - start.month)
    # add_months(start, months) lands in end's month; if on a later day it overshot by one.
    if add_months(start, months) > end:
        months -= 1
    return months


def years_apart_at_least(start: date, end: date, years: int) -> bool:
    """True when `end` is on or after `start` + `years` years (2024-02-29 + 2 years = 2026-02-28).

    Dates are compared as given. For a term whose first and last days both count (a contract
    "自2024年3月1日起至2026年2月28日止"), use `term_last_day`.
    """
    return end >= add_months(start, 12 * years)


def term_last_day(start: date, years: int) -> date:
    """The earliest last day of a term of `years` whole years that begins on `start`, both days
    counted: the day before the anniversary.

    2024-03-01 + 2 years ends 2026-02-28, and 2026-03-01 + 2 years ends 2028-02-29 (the contract
    wording "自2024年3月1日起至2026年2月28日止" is two years). A term that begins on 29 February has its
    anniversary in a common year on 1 March (the first day on which the full years have passed),
    so 2024-02-29 + 2 years ends 2026-02-28. Beyond the calendar (year 9999) it is `date.max`.
    """
    year = start.year + years
    if year > date.max.year:
        return date.max
    try:
        anniversary = start.replace(year=year)
    except ValueError:  # 29 February in a common year
        anniversary = date(year, 3, 1)
    return anniversary - timedelta(days=1)


def age_on(born: date, day: date) -> int:
    """Whole years of age (周岁) on `day`; someone born on 29 February has a birthday on 1 March
    in a common year. Negative before birth is not meaningful: callers check `born <= day`."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
