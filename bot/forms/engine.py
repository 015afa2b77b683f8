"""A step-by-step form, declared once as data and walked one question at a time.

No aiogram and no ORM here: the engine works on a plain JSON-serialisable `answers` dict (which the
caller persists after every step, so a draft survives anything) and describes each screen as text
and buttons. The chat layer (handlers/forms.py) only renders screens and feeds input back.

Navigation keys kept inside `answers` (prefixed with "_"): `_at` (the field or screen shown),
`_mode` ("normal", or "edit" when the person came from the summary), `_mentor` (a group item being
filled), `_doc` (the document slot awaiting a file), `_docs` (uploaded files by slot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from bot.i18n import t
from bot.rules import identifiers, values
from bot.rules.values import Invalid

SUMMARY = "_summary"
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
Check = Callable[[Any, Answers], Invalid | None]


@dataclass(frozen=True)
class Field:
    """One question. `kind` picks the parser; `visible` hides it for some earlier answers."""

    id: str
    kind: str  # text | choice | yes | uscc | resident_id | mobile | email | date | money | count | document | group | documents
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    personal: bool = False  # sealed at rest, masked when shown
    max_length: int = 200
    visible: Callable[[Answers], bool] | None = None
    check: Check | None = None
    remote_check: str | None = None  # an async check the chat layer runs before the answer is kept
    subfields: tuple[Field, ...] = ()  # kind == "group": the fields of one item
    min_items: int = 0
    item_check: Callable[[Answers], Invalid | None] | None = None  # a finished group item

    def is_visible(self, answers: Answers) -> bool:
        return self.visible is None or self.visible(answers)


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
    today: date
    lang: str = "zh"

    # -- where we are ----------------------------------------------------------------------------

    @property
    def at(self) -> str:
        at = self.answers.get("_at")
        if at is None:
            at = self.first_unanswered() or SUMMARY
            self.answers["_at"] = at
        return at

    def _go(self, target: str) -> None:
        self.answers["_at"] = target
        self.answers.pop("_doc", None)

    def visible_fields(self) -> list[Field]:
        return [f for f in self.form.fields if f.is_visible(self.answers)]

    def is_answered(self, f: Field) -> bool:
        if f.kind == "group":
            return len(self.answers.get(f.id) or []) >= f.min_items and "_mentor" not in self.answers
        if f.kind == "documents":
            return not self.missing_documents()
        if f.kind == "document":
            return bool(self.answers.get("_docs", {}).get(f.id))
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

    # -- texts -----------------------------------------------------------------------------------

    def tr(self, key: str, **params: Any) -> str:
        return t(self.lang, key, **params)

    def _ftext(self, f: Field, suffix: str = "q") -> str:
        return self.tr(f"form.{self.form.id}.{f.id}.{suffix}")

    def error_text(self, error: Invalid) -> str:
        params = {}
        for name, value in _public_params(error.params).items():
            # A param named "<x>_key" is a text key, shown in the person's language as {x}.
            if name.endswith("_key"):
                params[name.removesuffix("_key")] = self.tr(str(value))
            else:
                params[name] = value
        return "⚠️ " + self.tr(f"invalid.{error.reason}", **params)

    def progress(self, f: Field) -> str:
        sections = [s for s in self.form.sections if any(x.is_visible(self.answers) for x in s.fields)]
        section = self.form.section_of(f.id)
        in_section = [x for x in section.fields if x.is_visible(self.answers)]
        return self.tr(
            "form.progress",
            form=self.tr(f"form.{self.form.id}.title"),
            section_no=sections.index(section) + 1,
            sections=len(sections),
            section=self.tr(f"form.{self.form.id}.section.{section.id}"),
            question_no=in_section.index(f) + 1,
            questions=len(in_section),
        )

    def display(self, f: Field, stored: Any) -> str:
        """An answer as the person may see it again: personal data masked."""
        if stored is None:
            return ""
        if f.kind in ("choice", "yes"):
            choice = next((c for c in f.choices if c.value == stored), None)
            return self.tr(choice.text_key) if choice else str(stored)
        if f.personal:
            plain = self.sealer.unseal(stored)
            return identifiers.mask_mobile(plain) if f.kind == "mobile" else identifiers.mask_resident_id(plain)
        if f.kind == "money":
            return self.tr("form.money", amount=f"{float(stored):,.2f}")
        if f.kind == "document":
            return ", ".join(d["file_name"] for d in self.answers.get("_docs", {}).get(f.id, []))
        if stored == "" and f.optional:
            return self.tr("form.none")
        return str(stored)

    # -- screens ---------------------------------------------------------------------------------

    def screen(self, error: Invalid | None = None) -> Screen:
        at = self.at
        head = [self.error_text(error)] if error else []
        if at == SUMMARY:
            return self._summary_screen(head)
        f = self.form.field(at)
        if f.kind == "group":
            return self._group_screen(f, head)
        if f.kind == "documents":
            return self._documents_screen(f, head)
        lines = [*head, self.progress(f), "", self._ftext(f)]
        if self.is_answered(f):
            lines.append(self.tr("form.current", value=self.display(f, self.answers.get(f.id))))
        buttons: list[list[Button]] = []
        if self.answers.get("_unverified", {}).get(f.id):
            buttons.append([Button("force", self.tr("form.button.force"))])
        if f.choices:
            buttons += [[Button(f"c:{c.value}", self.tr(c.text_key))] for c in f.choices]
        if f.optional and f.kind not in ("choice", "yes"):
            buttons.append([Button("skip", self.tr("form.button.skip"))])
        if self.is_answered(f):
            buttons.append([Button("keep", self.tr("form.button.keep"))])
        buttons.append(self._nav_row(at))
        return Screen("\n".join(lines), buttons, accepts_file=f.kind == "document")

    def _nav_row(self, at: str) -> list[Button]:
        row = []
        if self._before(at) is not None:
            row.append(Button("back", self.tr("form.button.back")))
        row.append(Button("save", self.tr("form.button.save")))
        row.append(Button("discard", self.tr("form.button.discard")))
        return row

    # -- input -----------------------------------------------------------------------------------

    def parse(self, raw: str) -> Any:
        """The stored form of a typed answer to the current field, or Invalid."""
        at = self.at
        if at == SUMMARY:
            return self._parse_summary_choice(raw)
        f = self.form.field(at)
        if f.kind == "group":
            if "_mentor" not in self.answers:
                return Invalid("form.use_buttons")
            f = self._current_subfield(f)
        return self._parse_value(f, raw)

    def _parse_value(self, f: Field, raw: str) -> Any:
        text = raw.strip()
        if f.kind in ("choice", "yes", "document", "documents", "group"):
            return Invalid("form.use_buttons" if f.kind != "document" else "file.expected")
        if f.optional and text in ("", "-", "无", "none", "None"):
            return ""
        value: Any
        match f.kind:
            case "uscc":
                value = identifiers.parse_uscc(text)
            case "resident_id":
                value = identifiers.parse_resident_id(text, self.today)
            case "mobile":
                value = identifiers.parse_mobile(text)
            case "email":
                value = values.parse_email(text)
            case "date":
                value = values.parse_date(text)
                value = value if isinstance(value, Invalid) else value.isoformat()
            case "money":
                value = values.parse_money(text)
                value = value if isinstance(value, Invalid) else str(value)
            case "count":
                value = values.parse_count(text)
            case _:
                value = values.parse_text(text, max_length=f.max_length)
        if isinstance(value, Invalid):
            return value
        if f.check is not None:
            scope = self.answers.get("_mentor", {}).get("values", {}) if self._in_group() else self.answers
            problem = f.check(value, scope)
            if problem is not None:
                return problem
        return value

    def _in_group(self) -> bool:
        at = self.answers.get("_at")
        return at not in (None, SUMMARY) and self.form.field(at).kind == "group" and "_mentor" in self.answers

    def current_field(self) -> Field | None:
        at = self.at
        if at == SUMMARY:
            return None
        f = self.form.field(at)
        if f.kind == "group" and "_mentor" in self.answers:
            return self._current_subfield(f)
        return f

    def commit(self, value: Any) -> Outcome:
        """Keep a parsed answer and move on."""
        at = self.at
        if at == SUMMARY:
            return self._edit_item(int(value))
        f = self.form.field(at)
        if f.kind == "group":
            return self._commit_subfield(f, value)
        self.answers[f.id] = self.sealer.seal(value) if f.personal and value != "" else value
        self._go(self._after(f.id))
        return Outcome()

    def answer_text(self, raw: str) -> Outcome:
        return self.answer_parsed(self.parse(raw))

    def answer_parsed(self, value: Any) -> Outcome:
        """Keep what `parse` gave (the chat layer may run a remote check in between)."""
        if isinstance(value, Invalid):
            if value.reason == "uscc.check" and "value" in value.params:
                # Some real pre-2016 codes fail the check character: let the person confirm it,
                # and flag it for staff.
                self.answers.setdefault("_unverified", {})[self.at] = value.params["value"]
                return Outcome(error=value)
            return Outcome(error=value, changed=False)
        self.answers.get("_unverified", {}).pop(self.at, None)
        return self.commit(value)

    def press(self, button_id: str) -> Outcome:
        at = self.at
        if button_id == "save":
            return Outcome(leave="saved", changed=False)
        if button_id == "discard":
            return Outcome(leave="discarded", changed=False)
        if button_id == "back":
            return self._back(at)
        if at == SUMMARY:
            return self._press_summary(button_id)
        f = self.form.field(at)
        if f.kind == "group":
            return self._press_group(f, button_id)
        if f.kind == "documents":
            return self._press_documents(button_id)
        if button_id == "force" and (value := self.answers.get("_unverified", {}).pop(f.id, None)):
            self.answers.setdefault("_flags", []).append(f"{f.id}_unverified")
            return self.commit(value)
        if button_id == "keep" and self.is_answered(f):
            self._go(self._after(f.id))
            return Outcome(changed=True)
        if button_id == "skip" and f.optional:
            return self.commit("")
        if button_id.startswith("c:") and f.choices:
            value = _chosen(f, button_id, self.answers)
            return Outcome(error=value, changed=False) if isinstance(value, Invalid) else self.commit(value)
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    def _back(self, at: str) -> Outcome:
        if at != SUMMARY and self.form.field(at).kind == "group" and "_mentor" in self.answers:
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
        problem = check_upload(file)
        if problem is not None:
            return Outcome(error=problem, changed=False)
        at = self.at
        if at == SUMMARY:
            return Outcome(error=Invalid("file.unexpected"), changed=False)
        f = self.form.field(at)
        docs = self.answers.setdefault("_docs", {})
        if f.kind == "document":
            docs[f.id] = [file.as_dict()]
            self._go(self._after(f.id))
            return Outcome()
        if f.kind == "documents":
            slot_key = self.answers.get("_doc") or next(iter(self.missing_documents()), None)
            if slot_key is None:
                return Outcome(error=Invalid("file.nothing_missing"), changed=False)
            slot = next((s for s in self.form.document_slots(self.answers) if s.key == slot_key), None)
            if slot is None:
                return Outcome(error=Invalid("file.unexpected"), changed=False)
            if slot.multiple:
                docs.setdefault(slot.key, []).append(file.as_dict())
            else:
                docs[slot.key] = [file.as_dict()]
            self.answers.pop("_doc", None)
            return Outcome()
        return Outcome(error=Invalid("file.unexpected"), changed=False)

    # -- the summary -----------------------------------------------------------------------------

    def summary_items(self) -> list[tuple[Field, str]]:
        items = []
        for f in self.visible_fields():
            if f.kind == "group":
                shown = self._group_summary(f)
            elif f.kind == "documents":
                slots = self.form.document_slots(self.answers)
                have = sum(1 for s in slots if self.answers.get("_docs", {}).get(s.key))
                shown = self.tr("form.documents_count", have=have, missing=len(self.missing_documents()))
            else:
                shown = self.display(f, self.answers.get(f.id)) if f.id in self.answers or f.kind == "document" else ""
            items.append((f, shown))
        return items

    def _summary_screen(self, head: list[str]) -> Screen:
        lines = [*head, self.tr(f"form.{self.form.id}.summary_title"), ""]
        for n, (f, shown) in enumerate(self.summary_items(), start=1):
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
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
            return Outcome(submit=True, changed=False)
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    # -- a group of items (the mentors) ----------------------------------------------------------

    def _current_subfield(self, f: Field) -> Field:
        at = self.answers["_mentor"]["at"]
        return next(s for s in f.subfields if s.id == at)

    def _visible_subfields(self, f: Field) -> list[Field]:
        scope = self.answers.get("_mentor", {}).get("values", {})
        return [s for s in f.subfields if s.is_visible(scope)]

    def _group_screen(self, f: Field, head: list[str]) -> Screen:
        items: list[dict[str, Any]] = self.answers.get(f.id) or []
        draft = self.answers.get("_mentor")
        if draft is not None:
            sub = self._current_subfield(f)
            subs = self._visible_subfields(f)
            lines = [
                *head,
                self.progress(f),
                self.tr(f"form.{self.form.id}.{f.id}.item_progress", n=draft["index"] + 1,
                        question_no=subs.index(sub) + 1, questions=len(subs)),
                "",
                self.tr(f"form.{self.form.id}.{f.id}.{sub.id}.q"),
            ]
            stored = draft["values"].get(sub.id)
            buttons: list[list[Button]] = []
            if sub.id in draft["values"]:
                lines.append(self.tr("form.current", value=self.display(sub, stored)))
            buttons += [[Button(f"c:{c.value}", self.tr(c.text_key))] for c in sub.choices]
            if sub.id in draft["values"]:
                buttons.append([Button("keep", self.tr("form.button.keep"))])
            buttons.append([Button("back", self.tr("form.button.back")), Button("save", self.tr("form.button.save"))])
            return Screen("\n".join(lines), buttons)
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
        items: list[dict[str, Any]] = self.answers.setdefault(f.id, [])
        draft = self.answers.get("_mentor")
        if draft is not None:
            sub = self._current_subfield(f)
            if button_id == "keep" and sub.id in draft["values"]:
                return self._advance_subfield(f, sub)
            if button_id.startswith("c:") and sub.choices:
                value = _chosen(sub, button_id, draft["values"])
                if isinstance(value, Invalid):
                    return Outcome(error=value, changed=False)
                return self._commit_subfield(f, value)
            return Outcome(error=Invalid("form.use_buttons"), changed=False)
        if button_id == "g:add":
            self.answers["_mentor"] = {"index": len(items), "at": f.subfields[0].id, "values": {}}
            return Outcome()
        if button_id.startswith(("g:edit:", "g:del:")):
            n = int(button_id.rsplit(":", 1)[1]) if button_id.rsplit(":", 1)[1].isdigit() else 0
            if not 1 <= n <= len(items):
                return Outcome(error=Invalid("form.use_buttons"), changed=False)
            if button_id.startswith("g:edit:"):
                self.answers["_mentor"] = {"index": n - 1, "at": f.subfields[0].id, "values": dict(items[n - 1])}
            else:
                del items[n - 1]
                self._renumber_documents(removed=n)
            return Outcome()
        if button_id == "g:done":
            if len(items) < f.min_items:
                return Outcome(error=Invalid(f"group.{f.id}.too_few", {"min": f.min_items, "n": len(items)}), changed=False)
            self._go(self._after(f.id))
            return Outcome()
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    def _commit_subfield(self, f: Field, value: Any) -> Outcome:
        draft = self.answers["_mentor"]
        sub = self._current_subfield(f)
        draft["values"][sub.id] = self.sealer.seal(value) if sub.personal else value
        return self._advance_subfield(f, sub)

    def _advance_subfield(self, f: Field, sub: Field) -> Outcome:
        draft = self.answers["_mentor"]
        subs = self._visible_subfields(f)
        index = subs.index(sub)
        if index + 1 < len(subs):
            draft["at"] = subs[index + 1].id
            return Outcome()
        item = {k: v for k, v in draft["values"].items() if any(s.id == k for s in subs)}
        if f.item_check is not None and (problem := f.item_check(item)) is not None:
            return Outcome(error=problem, changed=True)
        items: list[dict[str, Any]] = self.answers.setdefault(f.id, [])
        if draft["index"] < len(items):
            items[draft["index"]] = item
        else:
            items.append(item)
        del self.answers["_mentor"]
        return Outcome()

    def _group_back(self, f: Field) -> Outcome:
        draft = self.answers["_mentor"]
        subs = self._visible_subfields(f)
        sub = self._current_subfield(f)
        index = subs.index(sub)
        if index == 0:
            del self.answers["_mentor"]  # back to the list; the unfinished item is dropped
        else:
            draft["at"] = subs[index - 1].id
        return Outcome()

    def _renumber_documents(self, removed: int) -> None:
        """Documents of item n belong to the item, not the position: shift them when one goes."""
        docs: dict[str, Any] = self.answers.get("_docs", {})
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
        self.answers["_docs"] = renamed

    # -- the document checklist ------------------------------------------------------------------

    def missing_documents(self) -> list[str]:
        docs = self.answers.get("_docs", {})
        return [s.key for s in self.form.document_slots(self.answers) if not s.optional and not docs.get(s.key)]

    def slot_label(self, slot: DocumentSlot) -> str:
        label = self.tr(f"document.{slot.kind}")
        return self.tr("document.of_item", n=slot.item, label=label) if slot.item else label

    def _documents_screen(self, f: Field, head: list[str]) -> Screen:
        docs = self.answers.get("_docs", {})
        slots = self.form.document_slots(self.answers)
        waiting = self.answers.get("_doc")
        if waiting:
            slot = next(s for s in slots if s.key == waiting)
            lines = [*head, self.progress(f), "", self.tr("document.send", label=self.slot_label(slot))]
            return Screen("\n".join(lines), [[Button("d:list", self.tr("form.button.back"))]], accepts_file=True)
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
        if button_id == "d:list":
            self.answers.pop("_doc", None)
            return Outcome()
        if button_id == "d:done":
            missing = self.missing_documents()
            if missing:
                slots = {s.key: s for s in self.form.document_slots(self.answers)}
                names = "、".join(self.slot_label(slots[k]) for k in missing)
                return Outcome(error=Invalid("file.missing", {"names": names}), changed=False)
            self._go(self._after(self.at))
            return Outcome()
        key = button_id.removeprefix("d:")
        if any(s.key == key for s in self.form.document_slots(self.answers)):
            self.answers["_doc"] = key
            return Outcome()
        return Outcome(error=Invalid("form.use_buttons"), changed=False)

    # -- the final answers -----------------------------------------------------------------------

    def plain_answers(self) -> Answers:
        """Visible answers with personal data unsealed: for the generated form only, never stored."""
        out: Answers = {}
        for f in self.visible_fields():
            if f.kind == "group":
                out[f.id] = [
                    {s.id: (self.sealer.unseal(v) if s.personal else v) for s in f.subfields if (v := item.get(s.id)) is not None}
                    for item in self.answers.get(f.id) or []
                ]
            elif f.id in self.answers:
                value = self.answers[f.id]
                out[f.id] = self.sealer.unseal(value) if f.personal and value != "" else value
        return out


def _chosen(f: Field, button_id: str, scope: Answers) -> str | Invalid:
    """The value of a pressed choice button, checked like a typed answer."""
    value = button_id.removeprefix("c:")
    if value not in {c.value for c in f.choices}:
        return Invalid("form.use_buttons")
    if f.check is not None and (problem := f.check(value, scope)) is not None:
        return problem
    return value


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
