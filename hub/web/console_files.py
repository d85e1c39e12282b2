"""The central console's files: its own pages and scripts (``hub/web/console/``), the edge
console's shared modules (``i18n.js``, ``dom.js``, ``api.js``, the alert page's head, media and
history panels, the style sheet and icon, read
from ``sitewatch/console/`` as files: the hub never imports the edge's code), and the message
catalogues — the edge's (domain words, sign-in, refusals) with the hub's own on top."""

from __future__ import annotations

import json
import re
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from core.errors import SitewatchError

HUB_CONSOLE = Path(__file__).resolve().parent / "console"
# Modules of the edge console the hub's pages import as they are (same look, same helpers).
SHARED_ASSETS = frozenset(
    {
        "i18n.js",
        "dom.js",
        "api.js",
        "sign-in.js",
        "alert-head.js",
        "alert-media.js",
        "alert-history.js",
        "style.css",
        "icon.svg",
    }
)
ASSET = re.compile(r"^[a-z][a-z0-9-]*\.(html|js|css|svg)$")
LANGUAGES = ("zh-CN", "en")


class ConsoleFileError(SitewatchError, FileNotFoundError):
    """A console file that does not exist (or may not be served)."""


def edge_console() -> Path:
    """The edge console's folder, found without importing the ``sitewatch`` package."""
    spec = find_spec("sitewatch")
    locations = None if spec is None else spec.submodule_search_locations
    if not locations:
        raise ConsoleFileError("the sitewatch package (the edge console's files) is not installed")
    return Path(next(iter(locations))) / "console"


def asset_path(name: str) -> Path:
    """Where console file ``name`` is: the hub's own first, else a shared edge module."""
    if ASSET.match(name) is None:
        raise ConsoleFileError(f"no console file {name[:80]!r}")
    own = HUB_CONSOLE / name
    if own.is_file():
        return own
    if name in SHARED_ASSETS:
        shared = edge_console() / name
        if shared.is_file():
            return shared
    raise ConsoleFileError(f"no console file {name[:80]!r}")


def hub_catalogue(language: str) -> dict[str, Any]:
    """The hub's own messages in ``language``."""
    if language not in LANGUAGES:
        raise ConsoleFileError(f"no catalogue for language {language[:20]!r}")
    loaded: dict[str, Any] = json.loads((HUB_CONSOLE / "i18n" / f"{language}.json").read_text())
    return loaded


def catalogue(language: str) -> dict[str, Any]:
    """What the central console loads for ``language``: the edge catalogue with the hub's
    messages merged over it (a hub message replaces the edge's of the same key)."""
    base = hub_catalogue(language)  # checks the language first
    edge: dict[str, Any] = json.loads((edge_console() / "i18n" / f"{language}.json").read_text())
    return _merged(edge, base)


def _merged(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    result = dict(under)
    for key, value in over.items():
        below = result.get(key)
        if isinstance(value, dict) and isinstance(below, dict) and not _plural(value):
            result[key] = _merged(below, value)
        else:
            result[key] = value
    return result


def _plural(node: dict[str, Any]) -> bool:
    return bool(node) and set(node) <= {"zero", "one", "two", "few", "many", "other"}
