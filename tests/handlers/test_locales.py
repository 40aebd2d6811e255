"""The built-in catalogs: every language has every English text, with the same {placeholders}."""
from __future__ import annotations

import json
import string

import pytest

from handlers.texts import BUILTIN, Texts

ENGLISH = json.loads((BUILTIN / "en.json").read_text(encoding="utf-8"))
OTHERS = sorted(p.stem for p in BUILTIN.glob("*.json") if p.stem != "en")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def catalog(lang: str) -> dict[str, str]:
    return json.loads((BUILTIN / f"{lang}.json").read_text(encoding="utf-8"))


def test_russian_is_shipped():
    assert "ru" in OTHERS


@pytest.mark.parametrize("lang", OTHERS)
def test_every_english_key_is_translated_with_the_same_placeholders(lang):
    texts = catalog(lang)
    assert sorted(set(ENGLISH) - set(texts)) == []
    assert sorted(set(texts) - set(ENGLISH)) == []                  # no stale keys either
    mismatched = {key: (sorted(placeholders(ENGLISH[key])), sorted(placeholders(texts[key])))
                  for key in ENGLISH if placeholders(ENGLISH[key]) != placeholders(texts[key])}
    assert mismatched == {}


@pytest.mark.parametrize("lang", OTHERS)
def test_every_text_formats_and_differs_from_english(lang):
    texts, loaded = catalog(lang), Texts()
    for key, template in texts.items():
        values = {name: "x" for name in placeholders(ENGLISH[key])}
        assert loaded.get(lang, key, **values) == template.format(**values)
    untranslated = [k for k, v in texts.items() if v == ENGLISH[k] and any(c.isalpha() for c in v)
                    and not v.startswith("{")]                      # "{name} = {value}" needs no words
    assert untranslated == []
