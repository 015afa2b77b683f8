"""A step-by-step form, declared once as data and walked one question at a time.

No aiogram and no ORM here: the engine works on a plain JSON-serialisable `answers` dict (which the
caller persists after every step, so a draft survives anything) and describes each screen as text
and buttons. The chat layer (handlers/forms.py) only renders screens and feeds input back.

Keys kept inside `answers` besides the answers themselves (prefixed with "_"):
navigation, meaningful only in a draft (`NAVIGATION_KEYS`): `_at` (the field or screen shown),
`_mode` ("edit" when the person came from the summary), `_item` (a group item being filled),
`_doc` (the document slot awaiting a file), `_received` (the slot that just got one),
`_deleting` (the group item whose removal awaits a yes), `_unverified` (the value just typed,
which the person may confirm although its check character fails: only ever the latest input,
dropped by any other error or step), `_v` (how many times the draft changed: the screen's
version, carried by its buttons, so a button of a screen already left is known as such) and
`_input` (the message that made the last change, see `resent`); and data, kept on submit: `_docs` (uploaded files by slot)
and `_flags` (e.g. "uscc_unverified": the answer was confirmed so, and staff must check it; set
by the confirmation, cleared when a valid answer replaces it).
`final_answers()` gives what is kept: visible answers only, so an answer to a question that the
person's later choices hid (a partner, after switching back to self-established) never reaches a
submission. The draft drops such answers as soon as they are hidden.

The engine knows no form: field kinds come from a registry (`bot.forms.kinds`), checks are plain
functions of (value, answers, context), and async checks (which may ask storage) are named by the
field and supplied by the form's spec.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.forms.context import AsyncCheck, FormContext
from bot.forms.kinds import kind_of
from bot.i18n import t
from bot.rules import values
from bot.rules.identifiers import SOFT_REASONS
from bot.rules.values import Invalid

SUMMARY = "_summary"
ITEM = "_item"  # the group item being filled: {"index", "at", "values"}
DOCS = "_docs"
FLAGS = "_flags"
# Navigation state of a draft: meaningless once submitted, never stored with a submission.
UNVERIFIED = "_unverified"
DELETING = "_deleting"
RECEIVED = "_received"
FIELD_RECEIVED = "field:"  # `_received` naming a file question rather than a checklist slot
VERSION = "_v"
LAST_INPUT = "_input"
NAVIGATION_KEYS = ("_at", "_mode", ITEM, "_doc", RECEIVED, DELETING, UNVERIFIED, VERSION, LAST_INPUT)
MAX_FILE_SIZE = 20 * 1024 * 1024  # what bots may download through Telegram's own Bot API server
ACCEPTED_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png", ".doc", ".docx")
ACCEPTED_MIME_TYPES = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)


class Sealer(Protocol):
    def seal(self, value: str) -> dict[str, str]: ...
    def unseal(self, stored: Any) -> str: ...


@dataclass(frozen=True)
class Choice:
    value: str
    text_key: str


Answers = dict[str, Any]
# A check sees the parsed value, the answers around it (the item's own values inside a group) and
# the context; it returns the reason the value is refused, or None.
Check = Callable[[Any, Mapping[str, Any], FormContext], Invalid | None]
# A finished group item, with the whole form's answers and the context.
ItemCheck = Callable[[Mapping[str, Any], Mapping[str, Any], FormContext], Invalid | None]


@functools.cache
def _takes_context(visible: Callable[..., bool]) -> bool:
    """Whether a `visible` or `text_params` callable takes the context besides the answers (two parameters)."""
    parameters = inspect.signature(visible).parameters.values()
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


@dataclass(frozen=True)
class Field:
    """One question. `kind` names a registered field kind; `visible` hides it for some earlier answers."""

    id: str
    kind: str
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    personal: bool = False  # sealed at rest, masked when shown
    max_length: int = 200
    min_length: int = 1
    minimum: int = 0
    # Sees the answers, or the answers and the context (a question only a school-enterprise
    # station is asked): a callable taking two arguments gets the context too.
    visible: Callable[[Answers], bool] | Callable[[Answers, FormContext | None], bool] | None = None
    checks: tuple[Check, ...] = ()
    async_checks: tuple[str, ...] = ()  # names of the spec's async checks, run before the answer is kept
    subfields: tuple[Field, ...] = ()  # kind == "group": the fields of one item
    min_items: int = 0
    item_checks: tuple[ItemCheck, ...] = ()  # a finished group item
    # A group's subfield: no two items may share the value (R1: three different people).
    unique: bool = False
    # Fills the question's placeholders from earlier answers; a param named "<x>_key" is a text key,
    # shown in the person's language as {x} (e.g. the unit's registration certificate).
    # May take the context too (two parameters), as `visible` may: the filing's deadline, say.
    text_params: Callable[[Answers], dict[str, Any]] | Callable[[Answers, FormContext | None], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        kind_of(self.kind)  # an unknown kind fails when the form is declared, not when asked

    def is_visible(self, answers: Answers, context: FormContext | None = None) -> bool:
        if self.visible is None:
            return True
        if _takes_context(self.visible):
            return bool(self.visible(answers, context))  # type: ignore[call-arg]
        return bool(self.visible(answers))  # type: ignore[call-arg]

    @property
    def answered_by(self) -> str:
        return kind_of(self.kind).answered_by


@dataclass(frozen=True)
class Section:
    id: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class DocumentSlot:
    kind: str
    item: str = ""  # e.g. the mentor's number
    optional: bool = False
    multiple: bool = False
    label_key: str = ""  # the text naming it, when not "document.<kind>" (e.g. by the unit's type)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.item}" if self.item else self.kind


@dataclass(frozen=True)
class Form:
    id: str  # texts live under "form.<id>." in the locales
    sections: tuple[Section, ...]
    document_slots: Callable[[Answers], list[DocumentSlot]] = lambda answers: []

    @property
    def fields(self) -> list[Field]:
        return [f for s in self.sections for f in s.fields]

    def field(self, field_id: str) -> Field:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(field_id)

    def section_of(self, field_id: str) -> Section:
        return next(s for s in self.sections if any(f.id == field_id for f in s.fields))


@dataclass(frozen=True)
class Button:
    id: str
    label: str


@dataclass(frozen=True)
class Screen:
    text: str
    buttons: list[list[Button]]
    accepts_file: bool = False
    version: int = 0  # the draft's `_v` when it was shown


@dataclass(frozen=True)
class Upload:
    file_id: str
    file_unique_id: str
    file_name: str
    file_size: int | None
    mime_type: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "file_size": self.file_size,
            "mime_type": self.mime_type,
        }


@dataclass
class Outcome:
    """What the chat layer should do after an input: nothing special, leave, or submit."""

    error: Invalid | None = None
    leave: str | None = None  # "saved" | "discarded"
    submit: bool = False
    changed: bool = True


@dataclass
class FormSession:
    form: Form
    answers: Answers
    sealer: Sealer
    context: FormContext
    lang: str = "zh"
    checks: Mapping[str, AsyncCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Drafts saved before the group key got its neutral name.
        if "_mentor" in self.answers:
            self.answers[ITEM] = self.answers.pop("_mentor")

    # -- where we are ----------------------------------------------------------------------------

    @property
    def at(self) -> str:
        at = self.answers.get("_at")
        if at is None or (at != SUMMARY and not self._known(at)):
            at = self.first_unanswered() or SUMMARY
            self.answers["_at"] = at
        return at

    def _known(self, field_id: str) -> bool:
        return any(f.id == field_id for f in self.form.fields)

    def _go(self, target: str) -> None:
        self.answers["_at"] = target
        for key in ("_doc", RECEIVED, DELETING, UNVERIFIED):
            self.answers.pop(key, None)

    def _drop_unverified(self) -> bool:
        """Forget the value offered for confirmation (another input came); whether there was one."""
        return self.answers.pop(UNVERIFIED, None) is not None

    def is_unverified(self, field_id: str) -> bool:
        """Whether the answer to `field_id` was confirmed by the person despite a failed check."""
        return f"{field_id}_unverified" in self.answers.get(FLAGS, ())

    def visible_fields(self) -> list[Field]:
        return [f for f in self.form.fields if f.is_visible(self.answers, self.context)]

    def is_answered(self, f: Field) -> bool:
        if f.kind == "group":
            return (
                len(self.answers.get(f.id) or []) >= f.min_items
                and ITEM not in self.answers
                and self._incomplete_item(f) is None
                and self._duplicate_items(f) is None
            )
        if f.kind == "documents":
            return not self.missing_documents()
        if f.answered_by == "file":
            return bool(self.answers.get(DOCS, {}).get(f.id))
        return f.id in self.answers

    def first_unanswered(self) -> str | None:
        return next((f.id for f in self.visible_fields() if not self.is_answered(f)), None)

    def _after(self, field_id: str) -> str:
        """Where to go once `field_id` is answered."""
        if self.answers.get("_mode") == "edit":
            target = self.first_unanswered()
            if target is None:
                self.answers.pop("_mode", None)
                return SUMMARY
            return target
        ids = [f.id for f in self.visible_fields()]
        index = ids.index(field_id) if field_id in ids else -1
        if index + 1 < len(ids):
            return ids[index + 1]
        return self.first_unanswered() or SUMMARY

    def _before(self, at: str) -> str | None:
        """Where "back" leads from `at` (None on the first question); changes nothing."""
        if self.answers.get("_mode") == "edit":
            return SUMMARY  # an edit started from the summary goes back there
        ids = [f.id for f in self.visible_fields()]
        if at == SUMMARY:
            return ids[-1] if ids else None
        index = ids.index(at) if at in ids else 0
        return ids[index - 1] if index > 0 else None

    # -- texts (also the `Env` that field kinds see) ---------------------------------------------

    def tr(self, key: str, **params: Any) -> str:
        return t(self.lang, key, **params)

    def unseal(self, stored: Any) -> str:
        return self.sealer.unseal(stored)

    def _ftext(self, f: Field, suffix: str = "q") -> str:
        params: dict[str, Any] = {"year": self.context.year or ""}
        if suffix == "q" and f.text_params is not None:
            given = f.text_params(self.answers, self.context) if _takes_context(f.text_params) else f.text_params(self.answers)  # type: ignore[call-arg]
            for name, value in given.items():
                # A param named "<x>_key" is a text key, shown in the person's language as {x}.
                if name.endswith("_key"):
                    params[name.removesuffix("_key")] = self.tr(str(value))
                else:
                    params[name] = value
        return self.tr(f"form.{self.form.id}.{f.id}.{suffix}", **params)

    def error_text(self, error: Invalid) -> str:
        return error_text(self.lang, error)

    def progress(self, f: Field) -> str:
        sections = [s for s in self.form.sections if any(x.is_visible(self.answers, self.context) for x in s.fields)]
        section = self.form.section_of(f.id)
        in_section = [x for x in section.fields if x.is_visible(self.answers, self.context)]
        mark = self.tr(
            "form.progress",
            form=self.tr(f"form.{self.form.id}.title"),
            section_no=sections.index(section) + 1,
            sections=len(sections),
            section=self.tr(f"form.{self.form.id}.section.{section.id}"),
            question_no=in_section.index(f) + 1,
            questions=len(in_section),
        )
        return " · ".join([mark, *self._group_progress(f)]) if f.kind == "group" else mark

    def _group_progress(self, f: Field) -> list[str]:
        """Where one is inside a group, the same on its list and inside an item: the item (the
        one being filled, or how many there are, of at least `min_items`) and, inside an item,
        its question."""
        count = len(self.answers.get(f.id) or [])
        draft = self.answers.get(ITEM)
        if draft is None:
            n, of = count, max(count, f.min_items)
        else:
            n = draft["index"] + 1
            of = max(count + (1 if draft["index"] >= count else 0), f.min_items)
        parts = [self.tr("form.group_progress", label=self._ftext(f, "label"), n=n, of=of)] if of else []
        if draft is not None:
            subs = self._visible_subfields(f)
            parts.append(self.tr("form.item_question", question_no=subs.index(self._current_subfield(f)) + 1,
                                 questions=len(subs)))
        return parts

    def display(self, f: Field, stored: Any) -> str:
        """An answer as the person may see it again: personal data masked."""
        if stored is None:
            return ""
        if stored == "" and f.optional:
            return self.tr("form.none")
        return kind_of(f.kind).show(stored, f, self)

    def printable(self, f: Field, stored: Any) -> str:
        """An answer as the printed form carries it: every choice in words, numbers in full."""
        if stored is None or stored == "":
            return ""
        return kind_of(f.kind).printable(stored, f, self)

    # -- screens ---------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.answers.get(VERSION, 0))

    def mark_changed(self, message_id: int | None = None, content: str = "") -> None:
        """The draft is about to be saved: its screen's version moves on, and the message that made
        the change (none for a button) is remembered by its id and a short digest of its content."""
        self.answers[VERSION] = self.version + 1
        if message_id is None:
            self.answers.pop(LAST_INPUT, None)
        else:
            self.answers[LAST_INPUT] = [message_id, _digest(content)]

    def resent(self, message_id: int, content: str) -> bool:
        """Whether this message repeats the one that made the last change and comes right after it.

        A chat's message ids count the messages of both sides, so no message of the bot came between
        the two: the screen after that change never reached the person (the bot stopped after keeping
        the answer and before showing the next question), who then sent the same answer again. It was
        kept once; it must not answer the next question too."""
        return self.answers.get(LAST_INPUT) == [message_id - 1, _digest(content)]

    def screen(self, error: Invalid | None = None) -> Screen:
        return dataclasses.replace(self._screen(error), version=self.version)

    def _screen(self, error: Invalid | None = None) -> Screen:
        at = self.at
        head = [self.error_text(error)] if error else []
        head += self._field_received()
        if at == SUMMARY:
            return self._summary_screen(head)
        f = self.form.field(at)
        if f.kind == "group":
            return self._group_screen(f, head)
        if f.kind == "documents":
            return self._documents_screen(f, head)
        lines = [*head, self.progress(f), "", self._ftext(f)]
        if self._file_choice(f) is not None:
            lines.append(self.tr("form.file_instead"))
        if self.is_answered(f):
            lines.append(self.tr("form.current", value=self._shown(f)))
        buttons: list[list[Button]] = []
        if self.answers.get(UNVERIFIED, {}).get(f.id):
            buttons.append([Button("force", self.tr("form.button.force"))])
        if f.choices:
            buttons += [[Button(f"c:{c.value}", self.tr(c.text_key))] for c in f.choices]
        if f.optional and f.answered_by != "button":
            buttons.append([Button("skip", self.tr("form.button.skip"))])
        if self.is_answered(f):
            buttons.append([Button("keep", self.tr("form.button.keep"))])
        buttons.append(self._nav_row(at))
        return Screen("\n".join(lines), buttons, accepts_file=f.answered_by == "file")

    def _shown(self, f: Field, limit: int | None = None) -> str:
        """The answer as the summary and the question show it, marked when it awaits a staff check."""
        if f.answered_by == "file":
            shown = self.display(f, True)
        else:
            shown = self.display(f, self.answers.get(f.id)) if f.id in self.answers else ""
        shown = _cut(shown, limit)
        if shown and self.is_unverified(f.id):
            shown += self.tr("form.unverified_mark")
        return shown

    def _file_choice(self, f: Field) -> tuple[str, Field] | None:
        """The one choice of `f` after which a file is asked for next (e.g. "upload the report"
        rather than "type it here"): a file sent at `f` is that choice and that file."""
        if not f.choices or f.kind == "group":
            return None
        found = []
        for choice in f.choices:
            trial = {**self.answers, f.id: choice.value}
            later = [x for x in self.form.fields if x.is_visible(trial, self.context)]
            index = next((i for i, x in enumerate(later) if x.id == f.id), None)
            if index is not None and index + 1 < len(later) and later[index + 1].answered_by == "file":
                found.append((choice.value, later[index + 1]))
        return found[0] if len(found) == 1 else None

    def _field_received(self) -> list[str]:
        """"✅ <file question>（name）已收到" on the screen right after a file answered a question."""
        received = str(self.answers.get(RECEIVED, ""))
        if not received.startswith(FIELD_RECEIVED):
            return []
        field_id = received.removeprefix(FIELD_RECEIVED)
        files = self.answers.get(DOCS, {}).get(field_id)
        if not self._known(field_id) or not files:
            return []
        label = self._ftext(self.form.field(field_id), "label")
        return [self.tr("document.received", label=label, names=files[-1]["file_name"])]

    def _nav_row(self, at: str) -> list[Button]:
        row = []
        if self._before(at) is not None:
            row.append(Button("back", self.tr("form.button.back")))
        row.append(Button("save", self.tr("form.button.save")))
        row.append(Button("discard", self.tr("form.button.discard")))
        return row

    # -- input -----------------------------------------------------------------------------------

    def current_field(self) -> Field | None:
        at = self.at
        if at == SUMMARY:
            return None
        f = self.form.field(at)
        if f.kind == "group" and ITEM in self.answers:
            return self._current_subfield(f)
        return f

    def _scope(self) -> Mapping[str, Any]:
        """What a check of the current field sees: the item's own values inside a group."""
        return self.answers[ITEM]["values"] if self._in_group() else self.answers

    def _in_group(self) -> bool:
        at = self.answers.get("_at")
        return at not in (None, SUMMARY) and self._known(at) and self.form.field(at).kind == "group" and ITEM in self.answers

    def parse(self, raw: str) -> Any:
        """The stored form of a typed answer to the current field, or Invalid (synchronous checks only)."""
        at = self.at
        if at == SUMMARY:
            return self._parse_summary_choice(raw)
        f = self.form.field(at)
        if f.kind == "documents":
            return Invalid("file.expected")  # the checklist waits for files; its buttons only pick one
        if f.kind == "group":
            if ITEM not in self.answers:
                return Invalid("form.use_buttons")
            f = self._current_subfield(f)
        return self._parse_value(f, raw)

    def _parse_value(self, f: Field, raw: str) -> Any:
        kind = kind_of(f.kind)
        if kind.answered_by == "file":
            return Invalid("file.expected")
        if kind.parse is None:
            return Invalid("form.use_buttons")
        text = raw.strip()
        if f.optional and text in ("", "-", "无", "none", "None"):
            return ""
        value = kind.parse(text, f, self)
        if isinstance(value, Invalid):
            return value
        return self._run_checks(f, value)

    def _run_checks(self, f: Field, value: Any) -> Any:
        scope = self._scope()
        for check in f.checks:
            problem = check(value, scope, self.context)
            if problem is not None:
                return problem
        if f.unique and self._in_group():
            group = self.form.field(self.answers["_at"])
            twin = self._twin(group, f, value, self.answers[ITEM]["index"])
            if twin is not None:
                return Invalid(f"group.{group.id}.duplicate_{f.id}", {"n": twin})
        return value

    # R1 asks for three different people, but ID numbers are sealed in the answers, each seal with
    # its own random token, so two seals of one number differ. They are compared here, where the
    # session's vault is at hand: unsealed in memory for the comparison only, never kept or passed
    # on. A keyed hash stored beside each sealed number would compare without unsealing, but it
    # would be one more derivative of the number at rest, with a key of its own to manage, and
    # drafts saved before it existed would lack it; handing the vault to check functions would
    # spread the unsealing over every form. So a subfield says `unique=True` and the engine does
    # the rest, for any group.
    def _plain(self, f: Field, stored: Any) -> str:
        return self.sealer.unseal(stored) if f.personal and stored not in (None, "") else str(stored)

    def _twin(self, group: Field, sub: Field, value: Any, index: int) -> int | None:
        """The number of another item of `group` (not the one at `index`) whose `sub` is `value`."""
        if value in (None, ""):
            return None
        for n, item in enumerate(self.answers.get(group.id) or [], start=1):
            if n - 1 != index and sub.id in item and self._plain(sub, item[sub.id]) == str(value):
                return n
        return None

    def _duplicate_items(self, group: Field) -> Invalid | None:
        """Two finished items sharing a unique value (kept in a draft from before the rule, say)."""
        items = self.answers.get(group.id) or []
        for sub in (s for s in group.subfields if s.unique):
            seen: dict[str, int] = {}
            for n, item in enumerate(items, start=1):
                if item.get(sub.id) in (None, ""):
                    continue
                plain = self._plain(sub, item[sub.id])
                if plain in seen:
                    return Invalid(f"group.{group.id}.duplicate_{sub.id}_items", {"first": seen[plain], "n": n})
                seen[plain] = n
        return None

    def _incomplete_item(self, group: Field) -> int | None:
        """The number of the first item lacking an answer that its own answers make visible (an
        item kept from before a question was added, say); None when every item is complete."""
        for n, item in enumerate(self.answers.get(group.id) or [], start=1):
            if any(s.id not in item for s in group.subfields if s.is_visible(item) and not s.optional):
                return n
        return None

    def _stale_answer(self) -> tuple[str, Invalid] | None:
        """The first kept answer that its checks refuse now, with the reason. A draft may wait for
        weeks: a contract that was running when typed may have ended by the time it is submitted."""
        for f in self.visible_fields():
            if f.kind == "group":
                for item in self.answers.get(f.id) or []:
                    for sub in f.subfields:
                        problem = self._recheck(sub, item.get(sub.id), item) if sub.is_visible(item) else None
                        if problem is not None:
                            return f.id, problem
            elif f.id in self.answers:
                problem = self._recheck(f, self.answers[f.id], self.answers)
                if problem is not None:
                    return f.id, problem
        return None

    def _recheck(self, f: Field, stored: Any, scope: Mapping[str, Any]) -> Invalid | None:
        if not f.checks or stored in (None, ""):
            return None
        value = self._plain(f, stored) if f.personal else stored
        for check in f.checks:
            problem = check(value, scope, self.context)
            if problem is not None:
                return problem
        return None

    async def _run_async_checks(self, f: Field | None, value: Any) -> Invalid | None:
        if f is None or isinstance(value, Invalid) or value == "":
            return None
        for name in f.async_checks:
            problem = await self.checks[name](value, self._scope(), self.context)
            if problem is not None:
                return problem
        return None

    async def answer_text(self, raw: str) -> Outcome:
        """A typed answer: parsed, checked (async checks too), kept, and on to the next question."""
        value = self.parse(raw)
        problem = await self._run_async_checks(self.current_field(), value)
        if problem is not None:
            return Outcome(error=problem, changed=self._drop_unverified())
        return self.answer_parsed(value)

    def answer_parsed(self, value: Any) -> Outcome:
        """Keep what `parse` gave."""
        if isinstance(value, Invalid):
            # Whatever was offered for confirmation belonged to an earlier input: gone (and the
            # draft saved without it, so no older value can be confirmed later).
            offered = self._drop_unverified()
            if value.reason in SOFT_REASONS and "value" in value.params and self.at != SUMMARY and not self._in_group():
                # Some real pre-2016 codes fail the check character: let the person confirm this
                # one, the latest typed, and flag it for staff.
                self.answers[UNVERIFIED] = {self.at: value.params["value"]}
                return Outcome(error=value)
            return Outcome(error=value, changed=offered)
        return self.commit(value)

    def commit(self, value: Any) -> Outcome:
        """Keep a parsed answer and move on."""
        at = self.at
        if at == SUMMARY:
            return self._edit_item(int(value))
        f = self.form.field(at)
        if f.kind == "group":
            return self._commit_subfield(f, value)
        self._keep(f, value)
        self._go(self._after(f.id))
        return Outcome()

    def _keep(self, f: Field, value: Any) -> None:
        """Store the answer to `f` (a new answer is no longer a confirmed-unverified one)."""
        self._set_flag(f"{f.id}_unverified", False)
        self.answers[f.id] = self.sealer.seal(value) if f.personal and value != "" else value
        self._prune_hidden()

    def _set_flag(self, flag: str, on: bool) -> None:
        flags: list[str] = self.answers.get(FLAGS, [])
        if on and flag not in flags:
            self.answers[FLAGS] = [*flags, flag]
        elif not on and flag in flags:
            self.answers[FLAGS] = [x for x in flags if x != flag]

    async def press(self, button_id: str) -> Outcome:
        if button_id == "save":
            return Outcome(leave="saved", changed=False)
        if button_id == "discard":
            return Outcome(leave="discarded", changed=False)
        if button_id == "force":
            return await self._force()
        offered = self._drop_unverified()  # any other step makes the offer stale
        outcome = await self._press(button_id)
        if offered:
            outcome.changed = True
        return outcome

    async def _force(self) -> Outcome:
        """ "我已核对": keep the value last typed despite its failed check, flagged for staff. The
        form's other checks (the unit not declared already, say) still apply to it."""
        at = self.at
        f = self.form.field(at) if at != SUMMARY else None
        value = self.answers.get(UNVERIFIED, {}).get(at) if f is not None else None
        if f is None or not value or self._in_group():
            return Outcome(error=Invalid("form.use_buttons"), changed=self._drop_unverified())
        checked = self._run_checks(f, value)
        problem = checked if isinstance(checked, Invalid) else await self._run_async_checks(f, checked)
        if problem is not None:
            self._drop_unverified()
            return Outcome(error=problem)
        outcome = self.commit(checked)
        self._set_flag(f"{f.id}_unverified", True)
        return outcome

    async def _press(self, button_id: str) -> Outcome:
        at = self.at
        if button_id == "back":
            return self._back(at)
        if at == SUMMARY:
            return self._press_summary(button_id)
        f = self.form.field(at)
        if f.kind == "group":
            return self._press_group(f, button_id)
        if f.kind == "documents":
            return self._press_documents(button_id)
        if button_id == "keep" and self.is_answered(f):
            self._go(self._after(f.id))
            return Outcome(changed=True)
        if button_id == "skip" and f.optional:
            return self.commit("")
        if button_id.startswith("c:") and f.choices:
            value = self._chosen(f, button_id)
            return Outcome(error=value, changed=False) if isinstance(value, Invalid) else self.commit(value)
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    def _chosen(self, f: Field, button_id: str) -> Any:
        """The value of a pressed choice button, checked like a typed answer."""
        value = button_id.removeprefix("c:")
        if value not in {c.value for c in f.choices}:
            return Invalid("form.use_buttons")
        return self._run_checks(f, value)

    def _back(self, at: str) -> Outcome:
        if self.answers.pop(DELETING, None) is not None:
            return Outcome()  # back from "delete item n?" is "keep it"
        if at != SUMMARY and self.form.field(at).kind == "group" and ITEM in self.answers:
            return self._group_back(self.form.field(at))
        target = self._before(at)
        if target is None:
            return Outcome(changed=False)
        if target == SUMMARY:
            self.answers.pop("_mode", None)
        self._go(target)
        return Outcome()

    def upload(self, file: Upload) -> Outcome:
        """A document or photo sent by the person."""
        offered = self._drop_unverified()
        outcome = self._upload(file)
        if offered:
            outcome.changed = True
        return outcome

    def _upload(self, file: Upload) -> Outcome:
        self.answers.pop(RECEIVED, None)
        problem = check_upload(file)
        if problem is not None:
            return Outcome(error=problem, changed=False)
        at = self.at
        if at == SUMMARY:
            return Outcome(error=Invalid("file.unexpected"), changed=False)
        f = self.form.field(at)
        if f.answered_by == "file":
            self.answers.setdefault(DOCS, {})[f.id] = [file.as_dict()]
            self._go(self._after(f.id))
            self.answers[RECEIVED] = FIELD_RECEIVED + f.id
            return Outcome()
        if f.kind == "documents":
            return self._upload_document(file)
        if f.kind != "group" and (choice := self._file_choice(f)) is not None:
            # A file sent where the question is "upload a file, or type it here?": the upload.
            value, target = choice
            chosen = self._chosen(f, f"c:{value}")
            if isinstance(chosen, Invalid):
                return Outcome(error=chosen, changed=False)
            self._keep(f, chosen)
            self.answers.setdefault(DOCS, {})[target.id] = [file.as_dict()]
            self._go(self._after(target.id))
            self.answers[RECEIVED] = FIELD_RECEIVED + target.id
            return Outcome()
        return Outcome(error=Invalid("file.unexpected"), changed=False)

    def _upload_document(self, file: Upload) -> Outcome:
        """A file for the checklist: into the slot asked for (or the first missing one); then the
        next missing one is asked for at once (more of the same, for a slot taking several)."""
        slot_key = self.answers.get("_doc") or next(iter(self.missing_documents()), None)
        if slot_key is None:
            return Outcome(error=Invalid("file.nothing_missing"), changed=False)
        slot = next((s for s in self.form.document_slots(self.answers) if s.key == slot_key), None)
        if slot is None:
            return Outcome(error=Invalid("file.unexpected"), changed=False)
        docs = self.answers.setdefault(DOCS, {})
        if slot.multiple:
            docs.setdefault(slot.key, []).append(file.as_dict())
        else:
            docs[slot.key] = [file.as_dict()]
        self.answers[RECEIVED] = slot.key
        following = slot.key if slot.multiple else next(iter(self.missing_documents()), None)
        if following is None:
            self.answers.pop("_doc", None)  # nothing missing: the checklist, to finish
        else:
            self.answers["_doc"] = following
        return Outcome()

    # -- the summary -----------------------------------------------------------------------------

    def summary_items(self, limit: int | None = None) -> list[tuple[Field, str]]:
        """Each visible question with its answer as shown (cut to `limit` characters, but never
        the mark of an answer that staff must check)."""
        items = []
        for f in self.visible_fields():
            if f.kind == "group":
                shown = _cut(self._group_summary(f), limit)
            elif f.kind == "documents":
                slots = self.form.document_slots(self.answers)
                have = sum(1 for s in slots if self.answers.get(DOCS, {}).get(s.key))
                shown = self.tr("form.documents_count", have=have, missing=len(self.missing_documents()))
            else:
                shown = self._shown(f, limit)
            items.append((f, shown))
        return items

    def _summary_screen(self, head: list[str]) -> Screen:
        lines = [*head, self.tr(f"form.{self.form.id}.summary_title", year=self.context.year or ""), ""]
        for n, (f, shown) in enumerate(self.summary_items(limit=60), start=1):
            lines.append(f"{n}. {self._ftext(f, 'label')}：{shown or self.tr('form.unanswered')}")
        lines += ["", self.tr("form.summary_hint")]
        buttons = [
            [Button("submit", self.tr("form.button.submit"))],
            [Button("back", self.tr("form.button.back")), Button("save", self.tr("form.button.save")),
             Button("discard", self.tr("form.button.discard"))],
        ]
        return Screen("\n".join(lines), buttons)

    def _parse_summary_choice(self, raw: str) -> int | Invalid:
        text = values.fold(raw).strip().lstrip("#").removeprefix("改").strip()
        items = self.summary_items()
        if not text.isdigit() or not 1 <= int(text) <= len(items):
            return Invalid("form.item_number", {"max": len(items)})
        return int(text)

    def _edit_item(self, number: int) -> Outcome:
        f, _ = self.summary_items()[number - 1]
        self.answers["_mode"] = "edit"
        self._go(f.id)
        return Outcome()

    def _press_summary(self, button_id: str) -> Outcome:
        if button_id == "submit":
            missing = self.first_unanswered()
            if missing is not None:
                self.answers["_mode"] = "edit"
                self._go(missing)
                return Outcome(error=Invalid("form.incomplete"))
            stale = self._stale_answer()
            if stale is not None:
                field_id, problem = stale
                self.answers["_mode"] = "edit"
                self._go(field_id)
                return Outcome(error=problem)
            return Outcome(submit=True, changed=False)
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    # -- a group of items (e.g. the mentors) -----------------------------------------------------

    def _current_subfield(self, f: Field) -> Field:
        at = self.answers[ITEM]["at"]
        return next(s for s in f.subfields if s.id == at)

    def _visible_subfields(self, f: Field) -> list[Field]:
        scope = self.answers.get(ITEM, {}).get("values", {})
        return [s for s in f.subfields if s.is_visible(scope)]

    def _group_screen(self, f: Field, head: list[str]) -> Screen:
        items: list[dict[str, Any]] = self.answers.get(f.id) or []
        draft = self.answers.get(ITEM)
        if draft is not None:
            sub = self._current_subfield(f)
            lines = [*head, self.progress(f), "", self.tr(f"form.{self.form.id}.{f.id}.{sub.id}.q")]
            stored = draft["values"].get(sub.id)
            buttons: list[list[Button]] = []
            if sub.id in draft["values"]:
                lines.append(self.tr("form.current", value=self.display(sub, stored)))
            buttons += [[Button(f"c:{c.value}", self.tr(c.text_key))] for c in sub.choices]
            if sub.id in draft["values"]:
                buttons.append([Button("keep", self.tr("form.button.keep"))])
            buttons.append([Button("back", self.tr("form.button.back")), Button("save", self.tr("form.button.save"))])
            return Screen("\n".join(lines), buttons)
        deleting = self.answers.get(DELETING)
        if isinstance(deleting, int) and 1 <= deleting <= len(items):
            return self._delete_screen(f, deleting, head)
        lines = [*head, self.progress(f), "", self._ftext(f)]
        if items:
            lines.append("")
            lines += [f"{n}. {self._item_line(f, item)}" for n, item in enumerate(items, start=1)]
        else:
            lines.append(self.tr(f"form.{self.form.id}.{f.id}.empty"))
        buttons = [[Button("g:add", self.tr(f"form.{self.form.id}.{f.id}.add"))]]
        for n in range(1, len(items) + 1):
            buttons.append([
                Button(f"g:edit:{n}", self.tr("form.button.edit_item", n=n)),
                Button(f"g:del:{n}", self.tr("form.button.delete_item", n=n)),
            ])
        buttons.append([Button("g:done", self.tr(f"form.{self.form.id}.{f.id}.done"))])
        buttons.append(self._nav_row(f.id))
        return Screen("\n".join(lines), buttons)

    def _delete_screen(self, f: Field, n: int, head: list[str]) -> Screen:
        """ "Delete item n?" with the item named, and what goes with it."""
        item = (self.answers.get(f.id) or [])[n - 1]
        lines = [*head, self.progress(f), "",
                 self.tr("form.delete_confirm", n=n, item=self._item_name(f, item) or self._item_line(f, item))]
        files = sum(len(v) for k, v in self.answers.get(DOCS, {}).items() if k.partition(":")[2] == str(n))
        if files:
            lines.append(self.tr("form.delete_files", files=files))
        buttons = [
            [Button(f"g:del_yes:{n}", self.tr("form.button.delete_yes", n=n))],
            [Button("g:del_no", self.tr("form.button.delete_no"))],
        ]
        return Screen("\n".join(lines), buttons)

    def _item_name(self, f: Field, item: dict[str, Any]) -> str:
        """What names an item: its first answer (e.g. the mentor's name)."""
        first = f.subfields[0]
        return self.display(first, item[first.id]) if first.id in item else ""

    def _item_line(self, f: Field, item: dict[str, Any]) -> str:
        parts = []
        for sub in f.subfields:
            if sub.id in item and sub.is_visible(item):
                parts.append(self.display(sub, item[sub.id]))
        return "，".join(p for p in parts if p)

    def _group_summary(self, f: Field) -> str:
        items = self.answers.get(f.id) or []
        names = [str(item.get(f.subfields[0].id, "")) for item in items]
        return self.tr("form.group_count", n=len(items), names=self.tr("form.list_separator").join(names))

    def _press_group(self, f: Field, button_id: str) -> Outcome:
        asked = DELETING in self.answers
        outcome = self._press_group_button(f, button_id)
        if asked:
            outcome.changed = True  # the question "delete item n?" is answered, whatever was pressed
        return outcome

    def _press_group_button(self, f: Field, button_id: str) -> Outcome:
        items: list[dict[str, Any]] = self.answers.setdefault(f.id, [])
        draft = self.answers.get(ITEM)
        if draft is not None:
            sub = self._current_subfield(f)
            if button_id == "keep" and sub.id in draft["values"]:
                return self._advance_subfield(f, sub)
            if button_id.startswith("c:") and sub.choices:
                value = self._chosen(sub, button_id)
                if isinstance(value, Invalid):
                    return Outcome(error=value, changed=False)
                return self._commit_subfield(f, value)
            return Outcome(error=Invalid("form.use_buttons"), changed=False)
        if button_id == "g:add":
            self.answers[ITEM] = {"index": len(items), "at": f.subfields[0].id, "values": {}}
            return Outcome()
        deleting = self.answers.pop(DELETING, None)  # any other button keeps the item
        if button_id == "g:del_no":
            return Outcome()
        if button_id.startswith(("g:edit:", "g:del:", "g:del_yes:")):
            n = int(button_id.rsplit(":", 1)[1]) if button_id.rsplit(":", 1)[1].isdigit() else 0
            if not 1 <= n <= len(items):
                return Outcome(error=Invalid("form.use_buttons"), changed=False)
            if button_id.startswith("g:edit:"):
                self.answers[ITEM] = {"index": n - 1, "at": f.subfields[0].id, "values": dict(items[n - 1])}
            elif button_id.startswith("g:del:"):
                self.answers[DELETING] = n  # asked first: "delete item n?"
            elif deleting == n:
                del items[n - 1]
                self._renumber_documents(removed=n)
            else:  # a "yes" left on an older screen: nothing was asked about item n just now
                return Outcome(error=Invalid("form.use_buttons"), changed=False)
            return Outcome()
        if button_id == "g:done":
            if len(items) < f.min_items:
                return Outcome(error=Invalid(f"group.{f.id}.too_few", {"min": f.min_items, "n": len(items)}), changed=False)
            problem = self._duplicate_items(f)
            if problem is None and (incomplete := self._incomplete_item(f)) is not None:
                problem = Invalid("group.incomplete_item", {"n": incomplete})
            if problem is not None:
                return Outcome(error=problem, changed=False)
            self._go(self._after(f.id))
            return Outcome()
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    def _commit_subfield(self, f: Field, value: Any) -> Outcome:
        draft = self.answers[ITEM]
        sub = self._current_subfield(f)
        draft["values"][sub.id] = self.sealer.seal(value) if sub.personal and value != "" else value
        return self._advance_subfield(f, sub)

    def _advance_subfield(self, f: Field, sub: Field) -> Outcome:
        draft = self.answers[ITEM]
        subs = self._visible_subfields(f)
        index = subs.index(sub)
        if index + 1 < len(subs):
            draft["at"] = subs[index + 1].id
            return Outcome()
        # The finished item keeps only what is visible for its own answers.
        item = {k: v for k, v in draft["values"].items() if any(s.id == k for s in subs)}
        for check in f.item_checks:
            problem = check(item, self.answers, self.context)
            if problem is not None:
                return Outcome(error=problem, changed=True)
        items: list[dict[str, Any]] = self.answers.setdefault(f.id, [])
        if draft["index"] < len(items):
            items[draft["index"]] = item
        else:
            items.append(item)
        del self.answers[ITEM]
        self._prune_hidden()
        return Outcome()

    def _group_back(self, f: Field) -> Outcome:
        draft = self.answers[ITEM]
        subs = self._visible_subfields(f)
        sub = self._current_subfield(f)
        index = subs.index(sub)
        if index == 0:
            del self.answers[ITEM]  # back to the list; the unfinished item is dropped
        else:
            draft["at"] = subs[index - 1].id
        return Outcome()

    def _renumber_documents(self, removed: int) -> None:
        """Documents of item n belong to the item, not the position: shift them when one goes."""
        docs: dict[str, Any] = self.answers.get(DOCS, {})
        renamed: dict[str, Any] = {}
        for key, files in docs.items():
            kind, _, item = key.partition(":")
            if item.isdigit():
                n = int(item)
                if n == removed:
                    continue
                if n > removed:
                    key = f"{kind}:{n - 1}"
            renamed[key] = files
        self.answers[DOCS] = renamed

    # -- the document checklist ------------------------------------------------------------------

    def missing_documents(self) -> list[str]:
        docs = self.answers.get(DOCS, {})
        return [s.key for s in self.form.document_slots(self.answers) if not s.optional and not docs.get(s.key)]

    def slot_label(self, slot: DocumentSlot) -> str:
        label = self.tr(slot.label_key or f"document.{slot.kind}")
        return self.tr("document.of_item", n=slot.item, label=label) if slot.item else label

    def _documents_screen(self, f: Field, head: list[str]) -> Screen:
        docs = self.answers.get(DOCS, {})
        slots = self.form.document_slots(self.answers)
        by_key = {s.key: s for s in slots}
        received = by_key.get(self.answers.get(RECEIVED, ""))
        if received is not None and docs.get(received.key):
            head = [*head, self.tr("document.received", label=self.slot_label(received),
                                   names=docs[received.key][-1]["file_name"])]
        waiting = by_key.get(self.answers.get("_doc", ""))
        if waiting is not None:
            lines = [*head, self.progress(f), "", self.tr("document.send", label=self.slot_label(waiting))]
            missing = self.missing_documents()
            if waiting.multiple and received is waiting:
                lines.append(self.tr("document.more"))
            if missing:
                lines.append(self.tr("document.remaining", n=len(missing)))
            have = sum(1 for s in slots if docs.get(s.key))
            buttons = [
                [Button("d:list", self.tr("document.checklist", have=have, slots=len(slots)))],
                [Button("save", self.tr("form.button.save")), Button("discard", self.tr("form.button.discard"))],
            ]
            return Screen("\n".join(lines), buttons, accepts_file=True)
        lines = [*head, self.progress(f), "", self._ftext(f), ""]
        buttons: list[list[Button]] = []
        for slot in slots:
            files = docs.get(slot.key, [])
            mark = "✅" if files else ("➖" if slot.optional else "❌")
            names = ", ".join(d["file_name"] for d in files)
            lines.append(f"{mark} {self.slot_label(slot)}" + (f"（{names}）" if names else ""))
            buttons.append([Button(f"d:{slot.key}", f"📎 {self.slot_label(slot)} {mark}")])
        lines += ["", self.tr("document.hint")]
        buttons.append([Button("d:done", self.tr("document.done"))])
        buttons.append(self._nav_row(f.id))
        return Screen("\n".join(lines), buttons, accepts_file=True)

    def _press_documents(self, button_id: str) -> Outcome:
        self.answers.pop(RECEIVED, None)
        if button_id == "d:list":
            self.answers.pop("_doc", None)
            return Outcome()
        if button_id == "d:done":
            missing = self.missing_documents()
            if missing:
                slots = {s.key: s for s in self.form.document_slots(self.answers)}
                names = self.tr("form.list_separator").join(self.slot_label(slots[k]) for k in missing)
                return Outcome(error=Invalid("file.missing", {"names": names}), changed=False)
            self._go(self._after(self.at))
            return Outcome()
        key = button_id.removeprefix("d:")
        if any(s.key == key for s in self.form.document_slots(self.answers)):
            self.answers["_doc"] = key
            return Outcome()
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    # -- what is kept ----------------------------------------------------------------------------

    def _visible_document_keys(self) -> set[str]:
        keys: set[str] = set()
        for f in self.visible_fields():
            if f.answered_by == "file":
                keys.add(f.id)
            elif f.kind == "documents":
                keys |= {s.key for s in self.form.document_slots(self.answers)}
        return keys

    def _prune_hidden(self) -> None:
        """Drop answers (and files) of questions that the latest answer hid."""
        visible = {f.id for f in self.visible_fields()}
        for f in self.form.fields:
            if f.id not in visible:
                self.answers.pop(f.id, None)
        docs = self.answers.get(DOCS)
        if docs:
            keep = self._visible_document_keys()
            self.answers[DOCS] = {k: v for k, v in docs.items() if k in keep}
        flags = self.answers.get(FLAGS)
        if flags:
            self.answers[FLAGS] = [x for x in flags if x.removesuffix("_unverified") in visible]

    def final_answers(self) -> Answers:
        """What a submission keeps: the visible answers (sealed as stored), their files and flags;
        no navigation state and nothing the person's choices hid."""
        out: Answers = {}
        for f in self.visible_fields():
            if f.kind == "group":
                out[f.id] = [
                    {s.id: item[s.id] for s in f.subfields if s.id in item and s.is_visible(item)}
                    for item in self.answers.get(f.id) or []
                ]
            elif f.answered_by in ("text", "button") and f.id in self.answers:
                out[f.id] = self.answers[f.id]
        keep = self._visible_document_keys()
        docs = {k: v for k, v in self.answers.get(DOCS, {}).items() if k in keep and v}
        if docs:
            out[DOCS] = docs
        visible = {f.id for f in self.visible_fields()}
        flags = [x for x in self.answers.get(FLAGS, []) if x.removesuffix("_unverified") in visible]
        if flags:
            out[FLAGS] = flags
        return out

    def plain_answers(self) -> Answers:
        """The final answers with personal data unsealed, and their flags: for the printed form, the
        receipt and the staff notice; never stored."""
        final = self.final_answers()
        out: Answers = {}
        for f in self.visible_fields():
            if f.id not in final:
                continue
            value = final[f.id]
            if f.kind == "group":
                out[f.id] = [
                    {s.id: (self.sealer.unseal(v) if s.personal and v != "" else v) for s in f.subfields if (v := item.get(s.id)) is not None}
                    for item in value
                ]
            else:
                out[f.id] = self.sealer.unseal(value) if f.personal and value != "" else value
        if FLAGS in final:
            out[FLAGS] = list(final[FLAGS])  # what a receipt or notice marks (see unverified_mark_key)
        return out


def _digest(content: str) -> str:
    """Four hex digits: enough to tell two messages apart, too few to tell what a number was."""
    return hashlib.sha256(content.encode()).hexdigest()[:4]


def error_text(lang: str, error: Invalid) -> str:
    """Why an answer was refused, in the person's language."""
    params = {}
    for name, value in _public_params(error.params).items():
        # A param named "<x>_key" is a text key, shown in the person's language as {x}.
        if name.endswith("_key"):
            params[name.removesuffix("_key")] = t(lang, str(value))
        else:
            params[name] = value
    return "⚠️ " + t(lang, f"invalid.{error.reason}", **params)


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def unverified_mark_key(answers: Mapping[str, Any], field_id: str) -> str:
    """The text key of the mark an answer carries in receipts and notices: "confirmed by the
    person, awaiting a staff check" when so flagged, else nothing."""
    return "form.unverified_mark" if f"{field_id}_unverified" in answers.get(FLAGS, ()) else "form.no_mark"


def check_upload(file: Upload) -> Invalid | None:
    if file.file_size is not None and file.file_size > MAX_FILE_SIZE:
        return Invalid("file.too_big", {"mb": round(file.file_size / 1024 / 1024, 1)})
    name = file.file_name.lower()
    if not (name.endswith(ACCEPTED_EXTENSIONS) or file.mime_type in ACCEPTED_MIME_TYPES):
        return Invalid("file.type")
    return None


def _public_params(params: dict[str, Any]) -> dict[str, Any]:
    # Some checks keep staff-only details in their params: the expected check character (which
    # would let any typo be "fixed" into a passing code) and the normalised value.
    return {k: v for k, v in params.items() if k not in ("expected", "value")}
