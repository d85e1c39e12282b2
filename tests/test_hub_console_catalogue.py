"""The central console's message catalogues (hub/web/console/i18n, merged over the edge's):
both languages have the same messages, every key the hub's pages and scripts ask for has a
text in both, every hub role and domain word the filters offer is named, and the Chinese
texts have no English word."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.vocabulary import CaseState, Hazard, Severity
from hub.config import HubRole
from hub.web.console_files import (
    HUB_CONSOLE,
    SHARED_ASSETS,
    ConsoleFileError,
    asset_path,
    catalogue,
    edge_console,
    hub_catalogue,
)
from tests.test_console_catalogue import AUTONYMS, LATIN_ALLOWED, leaves

LANGUAGES = ("zh-CN", "en")


def has(document: dict[str, Any], key: str) -> bool:
    node: Any = document
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, str) or (isinstance(node, dict) and "other" in node)


def page_keys() -> tuple[set[str], set[str]]:
    """Literal keys (t("a.b"), data-i18n) and run-time prefixes (t(`a.${x}`), word("kind"))
    of the hub's pages and of the shared modules they import."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    scripts = [*HUB_CONSOLE.glob("*.js"), *(edge_console() / n for n in SHARED_ASSETS)]
    for path in scripts:
        if path.suffix != ".js":
            continue
        text = path.read_text()
        literal |= set(re.findall(r'\bt\("([\w.-]+)"', text))
        prefixes |= set(re.findall(r"\bt\(`([\w.-]+)\.\$\{", text))
        prefixes |= set(re.findall(r'\bword\("(\w+)"', text))
    html = (HUB_CONSOLE / "index.html").read_text()
    literal |= set(re.findall(r'data-i18n(?:-title|-label)?="([\w.-]+)"', html))
    return literal, prefixes


def test_both_languages_have_the_same_hub_messages() -> None:
    chinese, english = (
        {k.split("#")[0] for k, _ in leaves(hub_catalogue(lang))} for lang in LANGUAGES
    )
    assert sorted(english - chinese) == [] and sorted(chinese - english) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_central_console_asks_for_exists(language: str) -> None:
    literal, prefixes = page_keys()
    assert {"nav.board", "fleet.title", "charts.byHazard", "login.token"} <= literal
    document = catalogue(language)
    assert [k for k in sorted(literal) if not has(document, k)] == []
    known = {k.split("#")[0] for k, _ in leaves(document)}
    assert [p for p in sorted(prefixes) if not any(k.startswith(f"{p}.") for k in known)] == []
    for prefix, values in (
        ("fleet.columns", ()),
        ("board.columns", ("overdue", "open", "closedOut")),
        ("role", [r.value for r in HubRole]),
        ("hazard", [h.value for h in Hazard]),
        ("state", [s.value for s in CaseState]),
        ("severity", [s.value for s in Severity]),
    ):
        assert [v for v in values if not has(document, f"{prefix}.{v}")] == [], prefix


def test_the_hub_messages_replace_the_edge_ones_of_the_same_key() -> None:
    merged = catalogue("zh-CN")
    assert merged["role"]["officer"] == hub_catalogue("zh-CN")["role"]["officer"]
    assert merged["role"]["operator"]  # the edge's words stay
    assert merged["login"]["token"] and merged["login"]["hubIntro"]


def test_the_chinese_hub_messages_have_no_english_word() -> None:
    found: dict[str, list[str]] = {}
    for key, text in leaves(hub_catalogue("zh-CN")):  # the edge's: test_console_catalogue
        if key in AUTONYMS:
            continue
        bare = re.sub(r"\{\w+\}", "", text)
        words = [w for w in re.findall(r"[A-Za-z]+", bare) if w not in LATIN_ALLOWED]
        if words:
            found[key] = words
    assert found == {}


def test_the_hub_scripts_keep_no_visible_english_in_code() -> None:
    offenders = []
    for path in sorted(HUB_CONSOLE.glob("*.js")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(("//", "*")):
                continue
            if re.search(r'"[A-Z][a-z]+ [a-z]+[^"]*"', line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(
    ("name", "found_in"),
    [("app.js", "hub"), ("i18n.js", "edge"), ("style.css", "edge"), ("hub.css", "hub")],
)
def test_console_files_come_from_the_hub_first_then_the_shared_edge_modules(
    name: str, found_in: str
) -> None:
    path = asset_path(name)
    assert path.parent == (HUB_CONSOLE if found_in == "hub" else edge_console())


@pytest.mark.parametrize("name", ["feed.js", "../app.js", "zones.js", "x.json", "APP.js"])
def test_edge_only_and_odd_file_names_are_not_served(name: str) -> None:
    with pytest.raises(ConsoleFileError, match="no console file"):
        asset_path(name)


def test_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(ConsoleFileError, match="fr"):
        catalogue("fr")
