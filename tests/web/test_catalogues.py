"""The zh_CN and en catalogues are complete: every message in the code is translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None, "_l": None}
METHOD_MAP = [("core/**.py", "python"), ("web/**.py", "python"), ("plugins/**.py", "python"),
              ("web/templates/**.html", "jinja2"), ("plugins/**/templates/**.html", "jinja2")]


def extracted() -> set[str]:
    ids = set()
    for _f, _l, message, _c, _ctx in extract_from_dir(
            str(ROOT), METHOD_MAP, keywords=KEYWORDS,
            directory_filter=lambda d: not any(part in {".venv", "node_modules", "examples", "tests", "bench", "docs",
                                                        ".git", "instance"} for part in Path(d).parts)):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_message_is_translated(locale):
    po_path = ROOT / "web" / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    translated = {m.id for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(extracted() - translated)
    assert not missing, f"{len(missing)} messages untranslated in {locale} — run `make extract-messages`: {missing[:10]}"


def test_chinese_catalogue_really_is_chinese():
    with (ROOT / "web/translations/zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    same = [m.id for m in catalog if m.id and m.string == m.id and any(c.isalpha() for c in m.id)]
    assert len(same) <= 2, same  # brand names at most


def test_compiled_catalogue_matches(tmp_path):
    mo = ROOT / "web/translations/zh_CN/LC_MESSAGES/messages.mo"
    if not mo.exists():
        pytest.fail("compile the catalogues first: make translations")
    with mo.open("rb") as f:
        compiled = {m.id for m in read_mo(f) if m.id}
    with (ROOT / "web/translations/zh_CN/LC_MESSAGES/messages.po").open("rb") as f:
        source = {m.id for m in read_po(f) if m.id and m.string}
    assert source <= compiled, "the .mo is older than the .po: make translations"
