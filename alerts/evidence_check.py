"""Evidence files against the digests the audit trail holds, and evidence that is missing.

The ``evidence`` table can be edited along with a swapped file; the hash chain cannot (without
breaking it). So each kept file is compared with the SHA-256 of the audit entry that recorded it
(``evidence.added`` for snapshots and clips, ``case.attach_photo`` for rectification photos; the
latest entry of a file name wins, as a new peak snapshot replaces the previous one).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alerts import audit
from alerts.clip_writer import parse_partial
from alerts.evidence_expected import Status, unresolved
from alerts.ledger import read_alerts

CHUNK = 1 << 20
Digests = dict[tuple[str, str], str]  # (alert_id, file name) -> SHA-256 in the trail


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def trail_digest(action: str, detail: Mapping[str, Any]) -> tuple[str, str] | None:
    """(file name, SHA-256) an audit entry records for an evidence file, if any."""
    if action == "evidence.added" and "name" in detail and "sha256" in detail:
        return str(detail["name"]), str(detail["sha256"])
    photos = detail.get("photos")
    if action == "case.attach_photo" and "photo_sha256" in detail and photos:
        return str(photos[0]), str(detail["photo_sha256"])
    return None


def chain_digests(entries: Iterable[audit.AuditEntry]) -> Digests:
    """The digest of every evidence file as the trail last recorded it."""
    found: Digests = {}
    for entry in entries:
        if entry.alert_id is None:
            continue
        named = trail_digest(entry.action, entry.details)
        if named is not None:
            found[(entry.alert_id, named[0])] = named[1]
    return found


def check_evidence(db: sqlite3.Connection, data_dir: Path) -> tuple[int, list[str]]:
    """Every kept file against the trail's digest and its row, then missing evidence; returns
    (files checked, problems). ``db`` is a read transaction (``Ledger.snapshot``)."""
    digests = chain_digests(audit.read_entries(db))
    problems: list[str] = []
    checked = 0
    alerts = read_alerts(db, "ORDER BY started_at", ())
    for alert in alerts:
        for item in alert.evidence:
            if item.removed_at is not None:
                continue
            checked += 1
            where = f"{alert.alert_id}/{item.name}"
            sealed = digests.get((alert.alert_id, item.name))
            path = data_dir / item.path
            if not path.is_file():
                problems.append(f"{where}: file is missing")
            elif file_sha256(path) != item.sha256:
                problems.append(f"{where}: differs from its recorded SHA-256")
            if sealed is None:
                problems.append(f"{where}: not recorded in the audit trail")
            elif item.sha256 != sealed:
                problems.append(
                    f"{where}: differs from the SHA-256 recorded in the audit trail"
                    " (the file and its digest in the evidence table were replaced)"
                )
    problems += missing_evidence(db, data_dir)
    return checked, problems


def missing_evidence(db: sqlite3.Connection, data_dir: Path) -> list[str]:
    """Evidence an alert should have but has not: files a full disk refused, clip parts whose
    recording never finished (a clip still being written is not a problem)."""
    recording = {
        (parsed.alert_id, parsed.part)
        for path in (data_dir / "evidence").glob("*/.clip*.partial")
        if (parsed := parse_partial(path)) is not None
    }
    problems: list[str] = []
    for item in unresolved(db):
        if item.status is Status.RECORDING:
            if (item.alert_id, item.part) in recording:
                continue
            reason = "its recording started but never finished"
        else:
            reason = item.reason
        noun = "clip is missing" if item.label.startswith("clip") else "file is missing"
        problems.append(f"{item.alert_id}/{item.label}: {noun}: {reason}")
    return problems
