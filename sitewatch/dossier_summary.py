"""The dossier's human-readable summary, in the requesting user's language (zh-CN or en).

The words come from the console's message catalogues (``sitewatch/console/i18n/<lang>.json``:
the hazard, severity, state, evidence and audit labels, and a ``dossier`` section for the
summary's own headings), so the dossier and the console name each thing the same way. Times are
written in the site's time zone, with the zone named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from alerts.dossier import SummaryWriter

LANGUAGES = ("zh-CN", "en")


@cache
def catalogue(language: str) -> dict[str, Any]:
    """The console's messages in ``language``."""
    text = resources.files("sitewatch").joinpath(f"console/i18n/{language}.json").read_text("utf-8")
    found: dict[str, Any] = json.loads(text)
    return found


def pick_language(requested: str | None, accept_language: str | None) -> str:
    """``requested`` when it is one of LANGUAGES, else the first of the Accept-Language header
    that is (``zh``, ``zh-CN``, ``zh-Hans`` read as zh-CN), else English."""
    for candidate in [requested or "", *(accept_language or "").split(",")]:
        tag = candidate.split(";")[0].strip()
        if tag in LANGUAGES:
            return tag
        if tag.lower().startswith("zh"):
            return "zh-CN"
        if tag.lower().startswith("en"):
            return "en"
    return "en"


def summary_writer(language: str, timezone: str) -> SummaryWriter:
    """Writes ``summary.<language>.txt`` from the dossier's facts."""
    words = catalogue(language)
    zone = ZoneInfo(timezone)

    def label(section: str, key: object) -> str:
        table = words.get(section, {})
        return str(table.get(str(key), key)) if isinstance(table, Mapping) else str(key)

    def when(value: object) -> str:
        if value is None:
            return "—"
        moment = (
            datetime.fromtimestamp(value, zone)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value)).astimezone(zone)
        )
        return f"{moment:%Y-%m-%d %H:%M:%S} ({timezone})"

    def write(facts: dict[str, Any]) -> tuple[str, str]:
        text = words["dossier"]
        alert, case = facts["alert"], facts["case"]
        lines = [
            text["title"].format(alert_id=alert["alert_id"]),
            "",
            f"{text['site']}: {facts['site']}",
            f"{text['camera']}: {alert['camera']} / {alert['zone']}",
            f"{text['hazard']}: {label('hazard', alert['hazard'])}",
            f"{text['severity']}: {label('severity', alert['severity'])}",
            f"{text['started']}: {when(alert['started_at'])}",
            f"{text['ended']}: {when(alert['ended_at'])}",
            f"{text['state']}: {label('state', case['state'])}",
            f"{text['owner']}: {case.get('owner') or '—'}",
            f"{text['deadline']}: {when(case.get('deadline'))}",
            "",
            text["trail"],
        ]
        for entry in facts["entries"]:
            note = (entry.get("detail") or {}).get("note")
            said = f" — {note}" if note else ""
            lines.append(
                f"  #{entry['seq']} {when(entry['at'])} {entry['actor']}: "
                f"{label('audit', entry['action'])}{said}"
            )
        lines += ["", text["evidence"]]
        for item in facts["evidence"]:
            kept = text["kept"] if item.get("included") else text["notKept"]
            lines.append(
                f"  {label('evidence', item['kind'])} {item['name']}: {kept}, "
                f"SHA-256 {item['recorded_sha256']}"
            )
        chain = (
            text["chainOk"] if facts["chain_ok"] else text["chainBroken"].format(file="audit.json")
        )
        lines += [
            "",
            chain,
            text["exported"].format(by=facts["exported_by"], at=when(facts["exported_at"])),
            text["check"].format(command="sha256sum -c SHA256SUMS"),
        ]
        return f"summary.{language}.txt", "\n".join(lines) + "\n"

    return write
