"""What a form's checks may know besides the answers: today, the person's station and its history,
settings, and a way to ask storage (async checks only).

Built by the services for each input, so a rule such as "not in the founding year" (R7) or "at most
6 months" (R11) is a plain function of (value, answers, context), written next to the form as data.
Plain data only: no aiogram, no ORM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from bot.rules.decisions import ApplicationWindow
from bot.rules.filing import years_to_file
from bot.rules.lifecycle import filing_due_on


@dataclass(frozen=True)
class StationView:
    """The station a contact acts for, as the rules need it."""

    id: int
    name: str
    state: str
    unit_uscc: str = ""
    recognised_on: date | None = None
    school_enterprise: bool = False


@dataclass(frozen=True)
class FilingView:
    """The station's annual filing obligation for a year (R10, R11), as storage holds it."""

    year: int
    state: str
    due_on: date
    extended_due_on: date | None = None

    @property
    def deadline(self) -> date:
        """The last day on which a filing is on time: the end of an approved extension, or of February."""
        return self.extended_due_on or self.due_on


@dataclass(frozen=True)
class HistoryEntry:
    """One submission of the person or their station: what R7 and R11 look back at."""

    kind: str
    status: str
    year: int | None = None
    submitted_on: date | None = None


class Lookup(Protocol):
    """What async checks may ask storage (implemented by bot.services.forms)."""

    async def uscc_blocker(self, uscc: str) -> str | None: ...

    async def key_project_window(self, year: int) -> ApplicationWindow | None: ...


@dataclass(frozen=True)
class FormContext:
    today: date  # in the bureau's time zone
    now: datetime  # aware, UTC
    user_id: int = 0
    station: StationView | None = None
    history: tuple[HistoryEntry, ...] = ()
    # The station's filing obligations written so far (the scheduler writes one a year; an
    # extension or a filing writes its year's when missing).
    filings: tuple[FilingView, ...] = ()
    # The year the act is for (a filing's year, a key project's year): `FormSpec.year_of`.
    year: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    lookup: Lookup | None = None

    def history_of(self, kind: str) -> tuple[HistoryEntry, ...]:
        return tuple(h for h in self.history if h.kind == kind)

    def filing_of(self, year: int) -> FilingView | None:
        return next((f for f in self.filings if f.year == year), None)

    def oldest_year_to_file(self) -> int | None:
        """The oldest year the station owes a filing for whose window has opened (R10; None: none now):
        the one /filing files and /extension asks to file later."""
        if self.station is None:
            return None
        years = years_to_file(self.station.recognised_on, self.today, {f.year: f.state for f in self.filings})
        return years[0] if years else None

    def filing_deadline(self, year: int) -> date:
        """The last day the filing for `year` is on time: the obligation's (an extension moves it), or R10's."""
        filing = self.filing_of(year)
        return filing.deadline if filing is not None else filing_due_on(year)


AsyncCheck = Callable[[Any, Mapping[str, Any], FormContext], Awaitable[Any]]
