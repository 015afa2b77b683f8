"""A form's spec: everything the generic dialog and the submit use-case need to carry one act.

One `FormSpec` per act (the establishment declaration now; key project, annual filing, extension and
deregistration next): the declarative form, the submission kind it makes, the command that opens
it, its named async checks, who may start it, and what happens on submit (the "one per ..." key,
the receipt, the staff notice, the printable form). Pure data and functions: no aiogram, no ORM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.forms.context import AsyncCheck, FormContext
from bot.forms.engine import Answers, Form
from bot.rules.values import Invalid


@dataclass(frozen=True)
class PrintRequest:
    """What a printable form is built from: answers with personal numbers in full, the files."""

    answers: Answers
    documents: Sequence[tuple[str, str, str]]  # (slot kind, item, file name)
    reference: str | None
    submitted_on: date | None
    flags: Sequence[str] = ()
    # Whom and which year the act is for (the station, `FormSpec.year_of`): the printed form's
    # header names them; None for a form that needs neither.
    context: FormContext | None = None


@dataclass(frozen=True)
class Printable:
    build: Callable[[PrintRequest], bytes]  # CPU work: the service runs it off the event loop
    filename: str  # with {reference}
    caption_key: str  # with {reference}


@dataclass(frozen=True)
class OnSubmit:
    # The policy's "one per ..." rule as a unique key in the database (None: no such rule).
    uniqueness_key: Callable[[Answers, FormContext], str | None] = lambda answers, context: None
    # What the contact's receipt names, besides the reference and the time (the next step and
    # its date, the shortfalls a filing shows ...). A param named "<x>_key" is a text key. May be
    # async (it may ask `context.lookup`).
    receipt_params: Callable[[Answers, FormContext], dict[str, Any] | Awaitable[dict[str, Any]]] = (
        lambda answers, context: {}
    )
    # The notice every member of staff gets, written in the same transaction as the submit.
    staff_notice_kind: str = "new_submission"
    staff_notice_key: str = "notice.new_submission"
    staff_notice_params: Callable[[Answers, FormContext], dict[str, Any]] = lambda answers, context: {}
    # The receipt number's prefix: <prefix>-<year>-<serial>, one series per prefix and year.
    reference_prefix: str = "SZJS"
    printable: Printable | None = None
    # What a clash on the uniqueness key means to the person (an Invalid reason).
    duplicate_reason: str = "form.duplicate"


@dataclass(frozen=True)
class FormSpec:
    form: Form
    kind: str  # the submission kind it makes (storage.models.SubmissionKind values)
    command: str  # "declare" for /declare
    on_submit: OnSubmit = field(default_factory=OnSubmit)
    checks: Mapping[str, AsyncCheck] = field(default_factory=dict)
    menu_action: str | None = None  # the main-menu button that opens it
    reprint_command: str | None = None  # sends the printable form of the latest submission again
    # Whether its checks need the person's station and its history (two queries per step).
    uses_station: bool = False
    # Who may open it: None, or the reason (an Invalid) this person may not. Asked again on
    # submit (the window may have closed, a colleague may have filed meanwhile); may be async
    # (it may ask `context.lookup`). The main menu offers the form only when it says None.
    may_start: Callable[[FormContext], Invalid | None | Awaitable[Invalid | None]] | None = None
    # The year the act is for (the filing's year, the key project's year), from the context;
    # None: the year it is submitted. Stored as the submission's `year`; questions may say {year}.
    year_of: Callable[[FormContext], int | None] | None = None

    def __post_init__(self) -> None:
        for f in self.form.fields:
            for sub in (f, *f.subfields):
                unknown = [name for name in sub.async_checks if name not in self.checks]
                if unknown:
                    raise ValueError(f"form {self.form.id}: field {sub.id} names unknown async checks {unknown}")

    def text(self, name: str) -> str:
        """The locale key of one of this form's own texts ("saved", "receipt", ...)."""
        return f"form.{self.form.id}.{name}"
