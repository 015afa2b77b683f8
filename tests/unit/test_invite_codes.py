"""Invite codes as pure functions: the alphabet, the grouping, reading a typed code, the throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.services.contacts import (
    ALPHABET,
    CODE_LENGTH,
    FAILURE_WINDOW,
    code_hash,
    format_code,
    new_code,
    normalise,
    retry_at,
)
from storage.models import InviteCode

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_codes_use_an_alphabet_without_look_alikes() -> None:
    assert len(ALPHABET) == 32 and not set("0O1I") & set(ALPHABET)
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)


def test_a_code_is_shown_grouped_and_read_without_case_blanks_or_dashes() -> None:
    assert format_code("ABCDEFGHJK") == "ABCD-EFGH-JK"
    for typed in ("ABCD-EFGH-JK", "abcd efgh jk", " abcdefghjk ", "Abcd—Efgh-jk"):
        assert normalise(typed) == "ABCDEFGHJK"
        assert code_hash(typed) == InviteCode.hash_code("ABCDEFGHJK")
    assert code_hash("ABCD-EFGH-JK") != code_hash("ABCD-EFGH-JL")


def test_the_throttle_opens_when_the_fifth_newest_failure_leaves_the_window() -> None:
    failures = [NOW - timedelta(minutes=m) for m in (1, 2, 3, 4)]  # newest first
    assert retry_at(failures, NOW) is None
    failures.append(NOW - timedelta(minutes=10))
    assert retry_at(failures, NOW) == NOW - timedelta(minutes=10) + FAILURE_WINDOW
    assert retry_at(failures, NOW + timedelta(minutes=5, seconds=1)) is None
    older = [NOW - timedelta(minutes=20)] * 10  # outside the window: not counted
    assert retry_at(older, NOW) is None
