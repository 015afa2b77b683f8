"""Dates, money, counts, free text, e-mail and month arithmetic."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.values import (
    Invalid,
    add_months,
    age_on,
    months_between,
    parse_count,
    parse_date,
    parse_email,
    parse_money,
    parse_text,
    term_last_day,
    years_apart_at_least,
)

# --- Invalid and the package boundary -----------------------------------------------------------


def test_invalid_is_a_frozen_hashable_value() -> None:
    assert Invalid("x") == Invalid("x", {})
    assert Invalid("x", {"a": 1}) != Invalid("x", {"a": 2})
    assert len({Invalid("x", {"a": 1}), Invalid("x", {"a": 1})}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        Invalid("x").reason = "y"  # type: ignore[misc]
    first, second = Invalid("x"), Invalid("y")
    first.params["k"] = 1
    assert second.params == {}


def test_rules_import_no_framework_or_storage() -> None:
    code = (
        "import sys, bot.rules, bot.rules.identifiers, bot.rules.values\n"
        "bad = sorted(m for m in sys.modules"
        " if m.split('.')[0] in {'aiogram', 'aiogram_dialog', 'tortoise', 'storage', 'handlers'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "2026-03-01",
        "2026-3-1",
        "2026/3/1",
        "2026/03/01",
        "2026.3.1",
        "20260301",
        "2026年3月1日",
        "2026年03月01日",
        "2026 年 3 月 1 日",
        "2026年3月1号",
        "2026年3月1",
        "２０２６年３月１日",
        "２０２６－０３－０１",
        "２０２６．３．１",
        "  2026-03-01\n",
        "自2026年3月1日起",  # as a contract words its term
        "至2026年3月1日止",
        "从 2026 年 3 月 1 日",
    ],
)
def test_date_accepted_forms(typed: str) -> None:
    assert parse_date(typed) == date(2026, 3, 1)


@pytest.mark.parametrize(
    "typed",
    ["", "tomorrow", "2026-3/1", "01/03/2026", "26-3-1", "2026-03", "2026031", "202603011",
     "2026年3月", "2026-03-01 10:00", "２０２６年三月一日", "2026-٠٣-٠١", "1" * 100, "自2026-03-01起",
     "2026年3月1日起至2028年2月29日止", "起2026年3月1日"],
)
def test_date_format_errors(typed: str) -> None:
    assert parse_date(typed) == Invalid("date.format")


@pytest.mark.parametrize(
    ("typed", "parts"),
    [
        ("2026-02-30", (2026, 2, 30)),
        ("20260229", (2026, 2, 29)),
        ("2026年13月1日", (2026, 13, 1)),
        ("2026/4/31", (2026, 4, 31)),
        ("0000-01-01", (0, 1, 1)),
        ("2026.0.10", (2026, 0, 10)),
    ],
)
def test_date_impossible_days(typed: str, parts: tuple[int, int, int]) -> None:
    year, month, day = parts
    assert parse_date(typed) == Invalid("date.invalid", {"year": year, "month": month, "day": day})


def test_date_leap_day() -> None:
    assert parse_date("2028-02-29") == date(2028, 2, 29)


def test_date_bounds_are_inclusive() -> None:
    low, high = date(2026, 1, 1), date(2026, 12, 31)
    assert parse_date("2026-01-01", not_before=low, not_after=high) == low
    assert parse_date("2026-12-31", not_before=low, not_after=high) == high
    too_early = Invalid("date.too_early", {"not_before": low})
    too_late = Invalid("date.too_late", {"not_after": high})
    assert parse_date("2025-12-31", not_before=low) == too_early
    assert parse_date("2027-01-01", not_after=high) == too_late


def test_date_params_render_in_a_template() -> None:
    result = parse_date("2025-12-31", not_before=date(2026, 1, 1))
    assert isinstance(result, Invalid)
    assert "不得早于 {not_before}".format(**result.params) == "不得早于 2026-01-01"


@given(st.dates(min_value=date(1000, 1, 1)))
def test_date_any_day_in_every_form(day: date) -> None:
    y, m, d = day.year, day.month, day.day
    for typed in (day.isoformat(), f"{y}/{m}/{d}", f"{y}.{m}.{d}", day.strftime("%Y%m%d"),
                  f"{y}年{m}月{d}日"):
        assert parse_date(typed) == day


# --- money --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("300000", "300000.00"),
        ("300,000", "300000.00"),
        ("30万", "300000.00"),
        ("30万元", "300000.00"),
        ("30 万元", "300000.00"),
        ("¥300,000.50", "300000.50"),
        ("￥300,000.50", "300000.50"),
        ("¥ 300000", "300000.00"),
        ("300000元", "300000.00"),
        ("300000.5", "300000.50"),
        ("300000.500", "300000.50"),
        ("30.5万", "305000.00"),
        ("1.23456万", "12345.60"),
        ("1.5亿", "150000000.00"),
        ("RMB 1,000", "1000.00"),
        ("cny1000", "1000.00"),
        ("人民币1000元", "1000.00"),
        ("３００，０００．５０", "300000.50"),
        ("３０万元", "300000.00"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("1,234,567.89", "1234567.89"),
    ],
)
def test_money_accepted_forms(typed: str, amount: str) -> None:
    result = parse_money(typed)
    assert result == Decimal(amount)
    assert str(result) == amount


@pytest.mark.parametrize(
    "typed",
    ["", "abc", "三十万", "1,5", "1,50,000", "300,00", ",300", "300.", ".5", "30万万", "30元万",
     "1e5", "¥¥300", "300$", "USD 300", "--5", "- ¥ -5", "300 000", "9" * 80],
)
def test_money_format_errors(typed: str) -> None:
    assert parse_money(typed) == Invalid("money.format")


@pytest.mark.parametrize("typed", ["-5", "¥-5", "-¥5", "\u22125", "－５", "-0.01", "-3万"])
def test_money_negative(typed: str) -> None:
    assert parse_money(typed) == Invalid("money.negative")


@pytest.mark.parametrize("typed", ["300.123", "0.001", "1.2345678万", "¥1,000.005"])
def test_money_too_many_decimals(typed: str) -> None:
    assert parse_money(typed) == Invalid("money.too_many_decimals", {"places": 2})


def test_money_maximum() -> None:
    cap = Decimal("1000000")
    assert parse_money("100万", maximum=cap) == cap
    assert parse_money("100.01万", maximum=cap) == Invalid("money.too_large", {"maximum": cap})


@given(st.decimals(min_value=0, max_value=Decimal("1e12"), places=2))
def test_money_property(amount: Decimal) -> None:
    assert parse_money(f"{amount:f}") == amount
    assert parse_money(f"¥{amount:,.2f}") == amount
    assert parse_money(f"{amount:,.2f}元") == amount


@given(st.integers(0, 10**8))
def test_money_wan_property(wan: int) -> None:
    assert parse_money(f"{wan}万元") == Decimal(wan) * 10_000


# --- counts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "count"),
    [("12", 12), ("0", 0), ("007", 7), ("１２", 12), ("12人", 12), ("12 名", 12), ("3个", 3),
     ("5项", 5), ("4个月", 4), ("2次", 2), ("3场", 3), ("6 月", 6), ("５项", 5), (" 8 ", 8), ("+4", 4), ("1,000", 1000), ("1,200", 1200), ("1,200人", 1200),
     ("１，２００", 1200), ("12,345,678", 12345678), ("999,999,999,999,999,999", 999999999999999999)],
)
def test_count_accepted(typed: str, count: int) -> None:
    assert parse_count(typed) == count


@pytest.mark.parametrize(
    "typed", ["", "3.5", "十", "12人人", "人", "12 people", "1" * 19, "1e3", "--1",
              # thousands grouped by three only: these are typos, not 100, 10000 or 1200
              "1,00", "1,0000", ",100", "1,", "1,000,00", "1000,000", "1.200", "1 200", "1,999,999,999,999,999,999"]
)
def test_count_format_errors(typed: str) -> None:
    assert parse_count(typed) == Invalid("count.format")


def test_count_bounds() -> None:
    assert parse_count("-1") == Invalid("count.too_small", {"minimum": 0})
    assert parse_count("0", minimum=1) == Invalid("count.too_small", {"minimum": 1})
    assert parse_count("1", minimum=1) == 1
    assert parse_count("50", maximum=50) == 50
    assert parse_count("51人", maximum=50) == Invalid("count.too_large", {"maximum": 50})


@given(st.integers(0, 10**12))
def test_count_property(n: int) -> None:
    assert parse_count(str(n)) == n
    assert parse_count(f"{n}人") == n
    assert parse_count(f"{n:,}") == n


# --- free text ----------------------------------------------------------------------------------


def test_text_strips_and_keeps_inner_lines() -> None:
    assert parse_text("  深圳市某某科技有限公司 \n") == "深圳市某某科技有限公司"
    assert parse_text("第一行\r\n第二行") == "第一行\n第二行"


def test_text_removes_control_characters() -> None:
    assert parse_text("a\x00b\x1bc\x7f") == "abc"
    assert parse_text("\x00\x00") == Invalid("text.empty")


def test_text_minimum_counts_letters_and_digits_not_punctuation() -> None:
    # A description must be a sentence: dots, dashes and spaces are not one.
    assert parse_text("好", min_length=5) == Invalid("text.too_short", {"min_length": 5})
    assert parse_text("有。", min_length=5) == Invalid("text.too_short", {"min_length": 5})
    assert parse_text("。。。。。。", min_length=5) == Invalid("text.too_short", {"min_length": 5})
    assert parse_text("- - - - - -", min_length=5) == Invalid("text.too_short", {"min_length": 5})
    assert parse_text("管理制度健全", min_length=5) == "管理制度健全"
    assert parse_text("OK, 5 CNC", min_length=5) == "OK, 5 CNC"
    assert parse_text("字" * 500 + "。", min_length=5, max_length=501) == "字" * 500 + "。"


def test_text_lengths() -> None:
    assert parse_text("") == Invalid("text.empty")
    assert parse_text(" \u3000\n\t") == Invalid("text.empty")
    assert parse_text("", min_length=0) == ""
    assert parse_text("ab", min_length=3) == Invalid("text.too_short", {"min_length": 3})
    assert parse_text("abc", min_length=3) == "abc"
    assert parse_text("字" * 200) == "字" * 200
    assert parse_text("字" * 201) == Invalid("text.too_long", {"max_length": 200})
    assert parse_text("abcd", max_length=3) == Invalid("text.too_long", {"max_length": 3})


# --- e-mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("zhangsan@qq.com", "zhangsan@qq.com"),
        (" Zhang.San@QQ.COM ", "Zhang.San@qq.com"),
        ("hr+station@example.com.cn", "hr+station@example.com.cn"),
        ("a_b-c@mail.sz.gov.cn", "a_b-c@mail.sz.gov.cn"),
        ("zhangsan＠163．com", "zhangsan@163.com"),
        ("x@example.xn--fiqs8s", "x@example.xn--fiqs8s"),  # punycode .中国
    ],
)
def test_email_accepted(typed: str, address: str) -> None:
    assert parse_email(typed) == address


@pytest.mark.parametrize(
    "typed",
    ["", "zhangsan", "zhangsan@", "@qq.com", "a@b", "a@@b.com", "a@b@c.com", "a..b@c.com",
     ".a@c.com", "a.@c.com", "a@-c.com", "a@c-.com", "a@c.c", "a b@c.com", "a@c.com.",
     "a@c..com", "a@c.123", "张三@qq.com", "a@例子.中国", '"a"@c.com', "a@[127.0.0.1]",
     "a" * 65 + "@c.com", "a@" + "b" * 250 + ".com", "a@c.com\nb@d.com"],
)
def test_email_rejected(typed: str) -> None:
    assert parse_email(typed) == Invalid("email.format")


# --- month arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 30), 2, date(2027, 1, 30)),
        (date(2026, 12, 31), 6, date(2027, 6, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 10), -13, date(2024, 12, 10)),
        (date(2026, 5, 5), 0, date(2026, 5, 5)),
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2026, 1, 15), date(2026, 2, 14), 0),
        (date(2026, 1, 15), date(2026, 2, 15), 1),
        (date(2026, 1, 31), date(2026, 2, 27), 0),
        (date(2026, 1, 31), date(2026, 2, 28), 1),
        (date(2026, 1, 31), date(2026, 3, 30), 1),
        (date(2026, 1, 31), date(2026, 3, 31), 2),
        (date(2024, 3, 1), date(2026, 3, 1), 24),
        (date(2024, 3, 1), date(2026, 2, 28), 23),
        (date(2026, 5, 5), date(2026, 5, 5), 0),
        (date(2026, 2, 15), date(2026, 1, 15), -1),
        (date(2026, 2, 15), date(2026, 1, 16), 0),
    ],
)
def test_months_between(start: date, end: date, months: int) -> None:
    assert months_between(start, end) == months


def test_extension_limit_is_checked_with_add_months() -> None:
    # The "extension at most 6 months" rule as callers are meant to write it.
    old_end = date(2026, 8, 31)
    assert add_months(old_end, 6) == date(2027, 2, 28)
    assert date(2027, 2, 28) <= add_months(old_end, 6)
    assert not date(2027, 3, 1) <= add_months(old_end, 6)


@pytest.mark.parametrize(
    ("start", "end", "years", "expected"),
    [
        (date(2024, 3, 1), date(2026, 3, 1), 2, True),
        (date(2024, 3, 1), date(2026, 2, 28), 2, False),
        (date(2024, 3, 1), date(2030, 1, 1), 2, True),
        (date(2024, 2, 29), date(2026, 2, 28), 2, True),
        (date(2024, 2, 29), date(2026, 2, 27), 2, False),
        (date(2024, 2, 29), date(2028, 2, 29), 4, True),
        (date(2024, 2, 29), date(2028, 2, 28), 4, False),
        (date(2023, 2, 28), date(2024, 2, 28), 1, True),
        (date(2023, 2, 28), date(2024, 2, 27), 1, False),
        (date(2026, 1, 1), date(2026, 1, 1), 0, True),
    ],
)
def test_years_apart_at_least(start: date, end: date, years: int, expected: bool) -> None:
    assert years_apart_at_least(start, end, years) is expected


DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))


@given(DATES, DATES)
def test_months_between_brackets_the_end(a: date, b: date) -> None:
    start, end = min(a, b), max(a, b)
    n = months_between(start, end)
    assert n >= 0
    assert add_months(start, n) <= end < add_months(start, n + 1)
    assert months_between(end, start) == -n


@given(DATES, st.integers(0, 600))
def test_months_between_inverts_add_months(start: date, months: int) -> None:
    end = add_months(start, months)
    assert months_between(start, end) == months
    assert years_apart_at_least(start, end, months // 12)
    if months % 12 == 0 and months:
        assert not years_apart_at_least(start, end - timedelta(days=1), months // 12)


# --- terms with both days counted, and ages ------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "years", "last_day"),
    [
        # R2: "自2024年3月1日起至2026年2月28日止" is two years, and so is 2026-03-01 to 2028-02-29.
        (date(2024, 3, 1), 2, date(2026, 2, 28)),
        (date(2026, 3, 1), 2, date(2028, 2, 29)),
        (date(2026, 1, 1), 2, date(2027, 12, 31)),
        (date(2026, 11, 27), 2, date(2028, 11, 26)),
        # from 29 February the full years have passed on 1 March of a common year
        (date(2024, 2, 29), 2, date(2026, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 28)),
        (date(2026, 12, 31), 1, date(2027, 12, 30)),
        (date(2026, 5, 5), 0, date(2026, 5, 4)),
        (date(9998, 6, 1), 2, date.max),
    ],
)
def test_term_last_day(start: date, years: int, last_day: date) -> None:
    assert term_last_day(start, years) == last_day


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), st.integers(1, 10))
def test_term_last_day_is_the_eve_of_the_anniversary(start: date, years: int) -> None:
    anniversary = term_last_day(start, years) + timedelta(days=1)
    if (start.month, start.day) == (2, 29) and anniversary.month == 3:
        assert (anniversary.year, anniversary.day) == (start.year + years, 1)
    else:
        assert anniversary == start.replace(year=start.year + years)
    # never shorter than the month arithmetic of the Civil Code would allow
    assert years_apart_at_least(start, anniversary, years)


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2015, 1, 1), date(2026, 11, 27), 11),
        (date(2010, 11, 27), date(2026, 11, 27), 16),
        (date(2010, 11, 28), date(2026, 11, 27), 15),
        (date(2008, 2, 29), date(2024, 2, 29), 16),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(1980, 1, 1), date(2026, 11, 27), 46),
    ],
)
def test_age_on(born: date, day: date, age: int) -> None:
    assert age_on(born, day) == age
