"""Translations: texts live in `bot/locales/<lang>.toml`, never literal in handlers.

Keys are dotted paths into the TOML tables ("start.greeting"). Simplified Chinese is the default;
a key missing in another language falls back to Chinese, and a missing key is an error at
test time (tests/unit/test_i18n.py checks both files carry the same keys).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "zh"
LANGUAGES = ("zh", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    with (LOCALES_DIR / f"{language}.toml").open("rb") as fh:
        return _flatten(tomllib.load(fh))


def normalise_language(code: str | None) -> str:
    """Map a Telegram `language_code` ("zh-hans", "en-US") to one of ours."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def add_texts(language: str, texts: dict[str, str]) -> None:
    """Texts of a form declared outside the locale files (a plug-in channel, the tests' toy form)."""
    catalog(language).update(texts)


def has_text(key: str) -> bool:
    return key in catalog(DEFAULT_LANGUAGE)


def t(language: str, key: str, /, **params: Any) -> str:
    texts = catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    template = texts.get(key)
    if template is None:
        template = catalog(DEFAULT_LANGUAGE)[key]
    return template.format(**params) if params else template


def transition_reason(language: str, reason: str) -> str:
    """A status change's reason as staff read it: a reason the system writes ("import") in words,
    one a person typed as typed."""
    key = f"transition_reason.{reason}"
    return t(language, key) if has_text(key) else reason
