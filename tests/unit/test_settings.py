"""Configuration from the environment (SPEC §7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.services import staff
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_the_interface_contract(clean_env: None) -> None:
    s = Settings(_env_file=None)
    assert s.bot_token is None
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_url == "sqlite://data/bot.sqlite3"
    assert s.redis_url is None and s.webhook_url is None
    assert s.staff_ids == frozenset() and s.admin_ids == frozenset()
    assert s.tz_name == "Asia/Shanghai" and s.auto_migrate is True


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("STAFF_IDS", "11, 12;13")
    monkeypatch.setenv("ADMIN_IDS", "99")
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("AUTO_MIGRATE", "0")
    monkeypatch.setenv("REDIS_URL", "")
    s = Settings(_env_file=None)
    assert s.staff_ids == {11, 12, 13} and s.admin_ids == {99}
    assert staff.is_staff(s, 99, granted=False) and staff.is_admin(s, 99) and not staff.is_admin(s, 11)
    assert staff.is_staff(s, 11, granted=False) and not staff.is_staff(s, 7, granted=False) and staff.is_staff(s, 7, granted=True)
    assert s.bot_token is not None and s.bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(s)  # the token is a secret
    assert s.telegram_api_url == "http://127.0.0.1:8081"
    assert s.auto_migrate is False and s.redis_url is None


def test_a_bad_id_list_is_refused_clearly(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("STAFF_IDS", "12,abc")
    with pytest.raises(ValidationError, match="Telegram user ids expected, not abc"):
        Settings(_env_file=None)


def test_the_bot_says_which_variable_is_wrong_and_exits_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "STAFF_IDS": "abc", "DATABASE_URL": f"sqlite://{tmp_path}/x.sqlite3"}
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "configuration error: STAFF_IDS" in done.stderr and "Traceback" not in done.stderr


def test_the_webhook_is_always_checked_with_a_secret(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    derived = Settings(_env_file=None).webhook_secret_token()
    assert len(derived) == 64 and derived.isalnum() and "123:abc" not in derived
    monkeypatch.setenv("BOT_TOKEN", "456:def")
    assert Settings(_env_file=None).webhook_secret_token() != derived
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")
    assert Settings(_env_file=None).webhook_secret_token() == "s3cret"
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    assert Settings(_env_file=None).webhook_secret_token() != ""
