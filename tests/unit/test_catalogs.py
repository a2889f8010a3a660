"""Every message the code can show exists in French and English, with the same fields."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from hub.i18n import LANGUAGES, catalog, translate

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"""["']((?:error|cli|state|format|text|schedule|reference|publish|bot|demo)\.[a-z0-9_.]+)["']""")


def _keys_in_code() -> set[str]:
    keys = set()
    for path in [*(ROOT / "hub").rglob("*.py"), *(ROOT / "bot").rglob("*.py"), *(ROOT / "demo").rglob("*.py")]:
        keys |= {k for k in KEY.findall(path.read_text("utf-8")) if not k.endswith((".", ".json.gz"))}
    return keys


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys() -> None:
    assert set(catalog("fr")) == set(catalog("en"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_used_in_the_code_has_a_message(lang: str) -> None:
    missing = sorted(k for k in _keys_in_code() if k not in catalog(lang))
    assert missing == []


def test_translations_use_the_same_fields() -> None:
    fr, en = catalog("fr"), catalog("en")
    assert {k: _fields(fr[k]) for k in fr} == {k: _fields(en[k]) for k in fr}


def test_unknown_language_falls_back_to_french() -> None:
    assert translate("error.permission.admin", "de") == translate("error.permission.admin", "fr")
    assert translate("error.permission.admin", "en-GB").startswith("Only")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_formats(lang: str) -> None:
    for text in catalog(lang).values():
        text.format(**{name: "x" for name in _fields(text)})  # a stray brace would raise here
