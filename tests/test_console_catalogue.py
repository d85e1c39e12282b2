"""The console's message catalogues (zh-CN, en): every domain word, every key the scripts ask
for and every error code the API answers has a text in both languages, and the Chinese one has
no English word in it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from alerts.model import EventType, EvidenceKind
from alerts.workflow import Action
from core import vocabulary
from core.vocabulary import CaseState, Hazard, Severity, ZoneKind
from ingest.status import CameraState
from sitewatch.api.errors import STATUS_CODES
from sitewatch.config.api import Role

ROOT = Path(__file__).resolve().parents[1]
CONSOLE = ROOT / "sitewatch" / "console"
LANGUAGES = ("zh-CN", "en")
PLURAL_FORMS = {"zero", "one", "two", "few", "many", "other"}
CLASS_NAMES = (
    vocabulary.FIRE,
    vocabulary.SMOKE,
    vocabulary.HELMET,
    vocabulary.HEAD,
    vocabulary.PERSON,
)
EXIT_REASONS = ("compared", "moving", "people")  # detect.exit_measure.ExitMeasurement.reason
# Latin words a Chinese page may show: the product's name, file formats, the keys of the
# duty desk's shortcuts, UTC. The language switch names English in English on purpose.
LATIN_ALLOWED = {"sitewatch", "JPEG", "PNG", "UTC", "J", "K", "N", "A", "M"}
AUTONYMS = {"app.languages.en"}

WORDS: dict[str, type[StrEnum] | tuple[str, ...]] = {
    "hazard": Hazard,
    "severity": Severity,
    "zoneKind": ZoneKind,
    "state": CaseState,
    "action": Action,
    "cameraState": CameraState,
    "role": Role,
    "event": EventType,
    "evidence": EvidenceKind,
    "class": CLASS_NAMES,
    "exitReason": EXIT_REASONS,
}


def catalogue(language: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONSOLE / "i18n" / f"{language}.json").read_text())
    return loaded


def leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, text) of every message; plural forms belong to their key."""
    if isinstance(node, dict) and node and set(node) <= PLURAL_FORMS:
        for form, text in node.items():
            yield f"{prefix}#{form}", text
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else key)
        return
    assert isinstance(node, str), f"{prefix}: {node!r} is not text"
    yield prefix, node


def keys(language: str) -> set[str]:
    return {key.split("#")[0] for key, _ in leaves(catalogue(language))}


def has(language: str, key: str) -> bool:
    node: Any = catalogue(language)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, str) or (isinstance(node, dict) and "other" in node)


def members(kind: type[StrEnum] | tuple[str, ...]) -> list[str]:
    return list(kind) if isinstance(kind, tuple) else [m.value for m in kind]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(WORDS))
def test_every_domain_word_has_a_text(language: str, kind: str) -> None:
    missing = [m for m in members(WORDS[kind]) if not has(language, f"{kind}.{m}")]
    assert missing == [], f"{language}: {kind} without a text: {missing}"


def test_both_languages_have_the_same_messages() -> None:
    chinese, english = keys("zh-CN"), keys("en")
    assert sorted(english - chinese) == [], "in en only"
    assert sorted(chinese - english) == [], "in zh-CN only"


def test_plural_messages_have_the_other_form_and_the_same_placeholders() -> None:
    texts = {language: dict(leaves(catalogue(language))) for language in LANGUAGES}
    for key, english in texts["en"].items():
        base = key.split("#")[0]
        chinese = [v for k, v in texts["zh-CN"].items() if k.split("#")[0] == base]
        assert chinese, key
        wanted = set(re.findall(r"\{(\w+)\}", english))
        for text in chinese:
            assert set(re.findall(r"\{(\w+)\}", text)) == wanted, f"{key}: {text}"
    for language in LANGUAGES:
        plural = {k.split("#")[0] for k in texts[language] if "#" in k}
        assert all(f"{k}#other" in texts[language] for k in plural), language


def script_keys() -> tuple[set[str], set[str]]:
    """Literal keys the console asks for (t("a.b"), word("kind", …) kinds, data-i18n) and
    the prefixes of keys built at run time (t(`case.done.${action}`))."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in CONSOLE.glob("*.js"):
        text = path.read_text()
        literal |= set(re.findall(r'\bt\("([\w.-]+)"', text))
        prefixes |= set(re.findall(r"\bt\(`([\w.-]+)\.\$\{", text))
        prefixes |= set(re.findall(r'\bword\("(\w+)"', text))
    html = (CONSOLE / "index.html").read_text()
    literal |= set(re.findall(r'data-i18n(?:-title|-label)?="([\w.-]+)"', html))
    return literal, prefixes


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_console_asks_for_exists(language: str) -> None:
    literal, prefixes = script_keys()
    assert len(literal) > 150, "the scan finds the console's keys"
    assert [k for k in sorted(literal) if not has(language, k)] == []
    known = keys(language)
    assert [p for p in sorted(prefixes) if not any(k.startswith(f"{p}.") for k in known)] == []


def error_codes() -> set[str]:
    """Every code the API answers: by status, and each one a route or a rule names."""
    codes = set(STATUS_CODES.values())
    for folder in ("sitewatch", "alerts"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            codes |= set(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', text))
            for kind, call in re.findall(
                r"(FieldError|TransitionError|AuthError|ZoneProblem)\((.*?)\n\s*\)", text, re.S
            ):
                named = set(re.findall(r'"([a-z]+(?:_[a-z]+)+)"', call))
                codes |= {
                    c
                    for c in named
                    if kind in ("TransitionError", "AuthError") or c.startswith("zone")
                }
            codes |= set(re.findall(r'AuthError\(\d+, "[^"]*", "([a-z_]+)"\)', text))
    return codes - {"zone_file"}  # problems of a hand-edited file: check-config's, English


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_code_has_a_text(language: str) -> None:
    codes = error_codes()
    expected = {
        "token_unknown",
        "token_missing",
        "too_many_attempts",
        "forbidden",
        "camera_not_found",
        "zones_version_conflict",
        "zone_self_intersecting",
        "zone_kind_unusable",
        "still_detected",
        "transition_not_allowed",
    }
    assert expected <= codes, "the scan finds the codes"
    assert sorted(c for c in codes if not has(language, f"error.{c}")) == []


def test_the_chinese_catalogue_has_no_english_word() -> None:
    found: dict[str, list[str]] = {}
    for key, text in leaves(catalogue("zh-CN")):
        if key in AUTONYMS:
            continue
        bare = re.sub(r"\{\w+\}", "", text)
        words = [w for w in re.findall(r"[A-Za-z]+", bare) if w not in LATIN_ALLOWED]
        if words:
            found[key] = words
    assert found == {}


def test_the_console_names_the_whole_frame_as_the_vocabulary_does() -> None:
    dom = (CONSOLE / "dom.js").read_text()
    assert f'export const WHOLE_FRAME = "{vocabulary.WHOLE_FRAME}";' in dom


def test_modules_keep_no_visible_english_in_code() -> None:
    """Visible strings come from the catalogues: no "Capitalised words" literals left in the
    scripts (headers, MIME types and key names aside)."""
    allowed = re.compile(
        r'"(Content-Type|Last-Event-ID|Authorization|AbortError|Notification|Noto Sans[^"]*|'
        r'Enter|Escape|Bearer [^"]*)"'
    )
    offenders = []
    for path in sorted(CONSOLE.glob("*.js")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("//") or line.lstrip().startswith("*"):
                continue
            stripped = allowed.sub('""', line)
            if re.search(r'"[A-Z][a-z]+ [a-z]+[^"]*"', stripped):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
