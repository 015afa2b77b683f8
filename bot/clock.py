"""The one source of "now": injected into the dispatcher, the services and the scheduler.

Production uses `SystemClock`; tests pass a `FixedClock` so that nothing depends on the day the
suite happens to run (a declaration submitted at 23:30 on 31 December in Shanghai is already
numbered for the next year while UTC is still in the old one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved: `FixedClock(datetime(2027, 2, 28, 15, 59, tzinfo=UTC))`."""

    moment: datetime = field(default_factory=lambda: datetime(2026, 11, 27, 1, 0, tzinfo=UTC))

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.moment = self.moment.astimezone(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta

    def set(self, moment: datetime) -> None:
        self.moment = moment.astimezone(UTC)


@dataclass
class OffsetClock:
    """Another clock moved by a fixed offset: the terminal chat's `/date`, to walk through what
    takes days (a 公示 of 5 working days, a filing deadline) on a local database. Only the terminal
    chat builds one; a bot with a token always runs on `SystemClock`."""

    base: Clock = field(default_factory=SystemClock)
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def move_to(self, day: date, tz: ZoneInfo) -> None:
        """Make `day` today in `tz`, keeping the time of day."""
        real = self.base.now().astimezone(tz)
        self.offset = datetime.combine(day, real.timetz()) - real

    def reset(self) -> None:
        self.offset = timedelta(0)


def local_now(clock: Clock, tz: ZoneInfo) -> datetime:
    return clock.now().astimezone(tz)


def local_today(clock: Clock, tz: ZoneInfo) -> date:
    """The date in the bureau's time zone (Asia/Shanghai by default), whatever the server's zone."""
    return local_now(clock, tz).date()
