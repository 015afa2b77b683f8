"""Field kinds: how an answer of each kind is parsed, shown in the chat and printed.

A registry instead of a closed `match`: a form may use any registered kind, and a new act adds
its kind here (or with `register_kind` from its own module) without touching the engine.

Each kind says how it is answered ("text", "button", "file", or "structure" for the mentor
list and the document checklist, which the engine walks itself) and, for typed answers, how the
text is parsed: into the stored value, or an `Invalid` with the reason. A kind answered by buttons
may have a parser too: the choice kinds take a typed answer that names a button ("是", "否", "Yes",
"高级技师"), so typing instead of tapping is not refused. `show` is what the person
sees again (personal numbers masked); `printable` is what the printed form carries (in full: it
goes only to the unit's own contacts and to staff).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.i18n import LANGUAGES, has_text, t
from bot.rules import identifiers, values
from bot.rules.values import Invalid

if TYPE_CHECKING:
    from bot.forms.context import FormContext
    from bot.forms.engine import Field


class Env(Protocol):
    """What a kind may use: the person's language, the context, and the vault."""

    lang: str
    answers: dict[str, Any]

    @property
    def context(self) -> FormContext: ...

    def tr(self, key: str, **params: Any) -> str: ...

    def unseal(self, stored: Any) -> str: ...


Parse = Callable[[str, "Field", Env], Any]
Show = Callable[[Any, "Field", Env], str]


def _as_text(stored: Any, f: Field, env: Env) -> str:
    return str(stored)


def _choice_label(stored: Any, f: Field, env: Env) -> str:
    choice = next((c for c in f.choices if c.value == stored), None)
    return env.tr(choice.text_key) if choice else str(stored)


def _money(stored: Any, f: Field, env: Env) -> str:
    return env.tr("form.money", amount=f"{float(stored):,.2f}")


def _count(stored: Any, f: Field, env: Env) -> str:
    """1,200 as it was typed (and as the printed form reads best); a stray text shows as it is."""
    return f"{stored:,}" if isinstance(stored, int) else str(stored)


def _unsealed(stored: Any, f: Field, env: Env) -> str:
    return env.unseal(stored)


def _masked(mask: Callable[[str], str]) -> Show:
    return lambda stored, f, env: mask(env.unseal(stored))


# Punctuation people put around a one-word answer ("是。", "「否」", "Yes!").
_AROUND_ANSWER = " \t\n.,!?;:'\"。，！？；：、“”‘’「」『』（）()[]【】"


def _typed_choice_key(text: str) -> str:
    """A label or a typed answer reduced to what matters for matching: full-width folded (NFKC),
    case and inner spaces ignored, surrounding punctuation dropped."""
    return "".join(values.fold(text).casefold().split()).strip(_AROUND_ANSWER)


def _synonyms(text_key: str) -> set[str]:
    """Other words people type for a button ("有" or "对" for 是, "没有" for 否): the locale's
    `synonyms.<text key>`, separated by "|"."""
    key = f"synonyms.{text_key}"
    if not has_text(key):
        return set()
    return {word for lang in LANGUAGES for word in t(lang, key).split("|") if word}


def _parse_choice(text: str, f: Field, env: Env) -> Any:
    """The value of the choice whose label (in any of the bot's languages) or value was typed."""
    typed = _typed_choice_key(text)
    if typed:
        for choice in f.choices:
            names = {choice.value, *(t(lang, choice.text_key) for lang in LANGUAGES), *_synonyms(choice.text_key)}
            if typed in {_typed_choice_key(name) for name in names}:
                return choice.value
    return Invalid("form.use_buttons")


def _file_names(stored: Any, f: Field, env: Env) -> str:
    return ", ".join(d["file_name"] for d in env.answers.get("_docs", {}).get(f.id, []))


def _iso(parsed: Any) -> Any:
    return parsed if isinstance(parsed, Invalid) else parsed.isoformat()


def _str(parsed: Any) -> Any:
    return parsed if isinstance(parsed, Invalid) else str(parsed)


@dataclass(frozen=True)
class FieldKind:
    answered_by: str  # "text" | "button" | "file" | "structure"
    parse: Parse | None = None  # typed answers only
    show: Show = _as_text
    printable: Show = _as_text


KINDS: dict[str, FieldKind] = {}


def register_kind(name: str, kind: FieldKind) -> None:
    if name in KINDS and KINDS[name] != kind:
        raise ValueError(f"field kind {name!r} is registered already")
    KINDS[name] = kind


def kind_of(name: str) -> FieldKind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown field kind {name!r}; registered: {', '.join(sorted(KINDS))}") from None


register_kind("text", FieldKind("text", lambda text, f, env: values.parse_text(text, min_length=f.min_length, max_length=f.max_length)))
register_kind("choice", FieldKind("button", _parse_choice, show=_choice_label, printable=_choice_label))
register_kind("yes", FieldKind("button", _parse_choice, show=_choice_label, printable=_choice_label))
register_kind("uscc", FieldKind("text", lambda text, f, env: identifiers.parse_uscc(text)))
register_kind(
    "resident_id",
    FieldKind(
        "text",
        lambda text, f, env: identifiers.parse_resident_id(text, env.context.today),
        show=_masked(identifiers.mask_resident_id),
        printable=_unsealed,
    ),
)
register_kind(
    "mobile",
    FieldKind(
        "text",
        lambda text, f, env: identifiers.parse_mobile(text),
        show=_masked(identifiers.mask_mobile),
        printable=_unsealed,
    ),
)
register_kind("email", FieldKind("text", lambda text, f, env: values.parse_email(text)))
register_kind("date", FieldKind("text", lambda text, f, env: _iso(values.parse_date(text))))
register_kind("money", FieldKind("text", lambda text, f, env: _str(values.parse_money(text)), show=_money, printable=_money))
register_kind(
    "count",
    FieldKind("text", lambda text, f, env: values.parse_count(text, minimum=f.minimum), show=_count, printable=_count),
)
register_kind("document", FieldKind("file", show=_file_names, printable=_file_names))
register_kind("group", FieldKind("structure"))
register_kind("documents", FieldKind("structure"))
