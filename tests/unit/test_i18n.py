"""The translation catalogs: same keys, same placeholders, well-formed templates, fallback."""

from __future__ import annotations

import re
import string

import pytest

from bot import i18n

LANGUAGES = i18n.LANGUAGES
TAG = re.compile(r"<(/?)b>")


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def _all_texts() -> list[tuple[str, str, str]]:
    return [(lang, key, text) for lang in LANGUAGES for key, text in sorted(i18n.catalog(lang).items())]


def test_catalogs_have_the_same_keys() -> None:
    zh = set(i18n.catalog("zh"))
    en = set(i18n.catalog("en"))
    missing_in_en = sorted(zh - en)
    missing_in_zh = sorted(en - zh)
    assert not missing_in_en and not missing_in_zh, (
        f"missing in en.toml: {missing_in_en}\nmissing in zh.toml: {missing_in_zh}"
    )


def test_placeholders_match_between_languages() -> None:
    zh, en = i18n.catalog("zh"), i18n.catalog("en")
    mismatched = {
        key: (sorted(_placeholders(zh[key])), sorted(_placeholders(en[key])))
        for key in sorted(set(zh) & set(en))
        if _placeholders(zh[key]) != _placeholders(en[key])
    }
    assert not mismatched, f"placeholders differ (zh, en): {mismatched}"


@pytest.mark.parametrize(("lang", "key", "template"), _all_texts())
def test_template_formats_with_dummy_values(lang: str, key: str, template: str) -> None:
    values = {name: f"<{name}>" for name in _placeholders(template)}
    assert all(name.isidentifier() for name in values), f"{lang}:{key}: odd placeholder {sorted(values)}"
    template.format(**values)
    if values:
        assert i18n.t(lang, key, **values) == template.format(**values)


@pytest.mark.parametrize(("lang", "key", "template"), _all_texts())
def test_bold_tags_are_balanced(lang: str, key: str, template: str) -> None:
    open_tags = 0
    for match in TAG.finditer(template):
        open_tags += -1 if match.group(1) else 1
        assert open_tags in (0, 1), f"{lang}:{key}: nested or stray </b> in {template!r}"
    assert open_tags == 0, f"{lang}:{key}: unclosed <b> in {template!r}"


def test_missing_english_key_falls_back_to_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    zh = dict(i18n.catalog("zh"))
    zh["test.only_in_zh"] = "仅中文：{n}"
    en = {key: text for key, text in i18n.catalog("en").items()}
    en.pop("test.only_in_zh", None)
    catalogs = {"zh": zh, "en": en}
    monkeypatch.setattr(i18n, "catalog", lambda language: catalogs[language])

    assert i18n.t("en", "test.only_in_zh", n=3) == "仅中文：3"
    assert i18n.t("en", "test.only_in_zh") == "仅中文：{n}"
    # an unknown language is served in Chinese, a key in both languages in English
    assert i18n.t("fr", "menu.help") == zh["menu.help"]
    assert i18n.t("en", "menu.help") == en["menu.help"]
    with pytest.raises(KeyError):
        i18n.t("en", "test.nowhere")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("en-US", "en"), ("en", "en"), ("EN-gb", "en"), ("zh-hans", "zh"), ("zh", "zh"), ("de", "zh"), ("", "zh"), (None, "zh")],
)
def test_normalise_language(code: str | None, expected: str) -> None:
    assert i18n.normalise_language(code) == expected
