"""Typed configuration from the environment and an optional `.env` file (SPEC §7)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from bot.rules.notices import NoticeRules

IdList = Annotated[frozenset[int], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite://data/bot.sqlite3"
    redis_url: str | None = None
    staff_ids: IdList = frozenset()
    admin_ids: IdList = frozenset()
    tz_name: str = "Asia/Shanghai"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    auto_migrate: bool = True
    default_language: str = "zh"
    # Key for personal data at rest (Fernet, urlsafe base64 of 32 bytes). Unset: a key file
    # next to the SQLite database is created on first use, which suits a single-machine setup.
    # Several keys, comma-separated, newest first: a rotation (new seals use the first; see
    # `python -m bot reseal`).
    data_key: SecretStr | None = None
    data_key_file: str = "data/secret.key"
    # Outbox sending budget (DESIGN: about 25/s overall, 1/s per chat).
    send_rate_per_second: float = 25.0
    # ... and the least interval between two messages to one chat, in seconds.
    send_per_chat_interval: float = 1.0
    # Staff digests: daily at DIGEST_HOUR (local), weekly on DIGEST_WEEKDAY (0 = Monday) at the
    # same hour; announcements ending within DIGEST_ANNOUNCEMENT_DAYS are listed; at most
    # DIGEST_LIST_LIMIT lines per section in the text (the weekly .xlsx has every row).
    digest_hour: int = 9
    digest_weekday: int = 0
    digest_announcement_days: int = 3
    digest_list_limit: int = 5
    # R18: the city's targets, shown in the digests.
    target_new_stations_per_year: int = 15
    target_stations_total: int = 150
    # Run the outbox sender inside the bot process. 0 for deployments where a separate
    # `python -m scheduler` sends (with several bot instances, only one process should).
    outbox_sender: bool = True
    log_level: str = "INFO"
    # R19: a 公示 lasts 5 working days (holidays skipped, make-up working days counted); true
    # counts 5 calendar days instead.
    announcement_calendar_days: bool = False
    # Scheduled notices (SPEC §6; bot/rules/notices.py): date-based notices go out at NOTICE_HOUR
    # (local); nothing is sent from QUIET_HOURS_START to QUIET_HOURS_END, a notice due then is
    # due at QUIET_HOURS_END. Lists are comma-separated; days as MM-DD.
    notice_hour: int = 9
    quiet_hours_start: int = 21
    quiet_hours_end: int = 8
    filing_window_open_day: str = "01-02"
    filing_reminder_days: str = "02-01,02-15"
    filing_reminder_days_before: str = "7,1"
    extension_expiry_days_before: str = "14,3"
    revocation_warning_months: int = 5
    revocation_candidate_months: int = 6
    key_project_window_closing_days: int = 7
    # How often the notice tick runs, and the leader's lease (one instance runs the ticks and the
    # sender; a dead leader is replaced within LEADER_LEASE_SECONDS plus one retry).
    tick_interval_seconds: int = 60
    leader_lease_seconds: int = 30
    # Flood control: each person's updates, on average at most THROTTLE_RATE (a `limits` rate:
    # "5/second", "300/minute"), up to THROTTLE_BURST at once (an album of 10 documents is 10
    # messages at once). "off": no limit (the flow tests, which type faster than anyone).
    throttle_rate: str = "5/second"
    throttle_burst: int = 10
    # A second delivery of an update (webhook retry, redelivery after a restart) is not handled
    # again; an update in hand is claimed for this long (renewed while handled): after a crash
    # its redelivery is handled once the claim ran out (storage.update_claims). With Redis a person's
    # lock is held the same way (bot.isolation): a crashed process holds it this long at most.
    update_lease_seconds: float = 10.0

    @field_validator("staff_ids", "admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            wrong = [p for p in parts if not p.lstrip("-").isdigit()]
            if wrong:
                raise ValueError(f"comma-separated Telegram user ids expected, not {', '.join(wrong)}")
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("bot_token", "redis_url", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("throttle_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        if value.strip().lower() == "off":
            return "off"
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"a rate such as 5/second or 300/minute (or off) expected, not {value!r}") from exc
        return value

    @field_validator("data_key", mode="before")
    @classmethod
    def _data_keys(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or (isinstance(text, str) and not text.strip()):
            return None
        from cryptography.fernet import Fernet

        keys = [k.strip() for k in str(text).split(",") if k.strip()]  # a stray comma is no key
        if not keys:
            raise ValueError("no key, only commas")
        for n, key in enumerate(keys, 1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                # Never the key itself in the message: it is a secret.
                raise ValueError(f"key {n} of {len(keys)} is not a Fernet key (urlsafe base64 of 32 bytes; "
                                 "several keys are separated by commas, newest first)") from None
        return ",".join(keys)

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    def notice_rules(self) -> NoticeRules:
        """The offsets and hours of the scheduled notices, as bot.rules.notices takes them."""
        from bot.rules.notices import NoticeRules

        def days(text: str) -> tuple[tuple[int, int], ...]:
            return tuple((int(m), int(d)) for m, d in (p.strip().split("-") for p in text.split(",") if p.strip()))

        def ints(text: str) -> tuple[int, ...]:
            return tuple(int(p) for p in text.split(",") if p.strip())

        return NoticeRules(
            tz=self.tz, notice_hour=self.notice_hour, quiet_start=self.quiet_hours_start, quiet_end=self.quiet_hours_end,
            window_open_day=days(self.filing_window_open_day)[0], reminder_days=days(self.filing_reminder_days),
            reminder_days_before=ints(self.filing_reminder_days_before),
            extension_days_before=ints(self.extension_expiry_days_before),
            warning_months=self.revocation_warning_months, candidate_months=self.revocation_candidate_months,
            window_closing_days=self.key_project_window_closing_days,
        )

    def webhook_secret_token(self) -> str:
        """The secret Telegram must send with every webhook call: WEBHOOK_SECRET, or one derived
        from the bot token, so the webhook is never left unchecked."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        token = self.bot_token.get_secret_value() if self.bot_token else ""
        return hashlib.sha256(f"webhook-secret:{token}".encode()).hexdigest()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
