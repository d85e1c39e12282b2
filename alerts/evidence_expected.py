"""Evidence an alert should have but does not (yet): clip parts being recorded, and files that
could not be written (a full disk), each with the reason.

A row is *resolved* when the file is recorded in the ``evidence`` table (``resolve``, inside the
same transaction). What stays unresolved is what ``audit verify --evidence`` reports missing and
what ``/api/health`` and ``/metrics`` count as ``evidence_missing``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from alerts import audit
from alerts.model import Evidence, EvidenceKind

TABLE = """
    CREATE TABLE evidence_expected (
        alert_id TEXT NOT NULL REFERENCES alerts (alert_id),
        kind TEXT NOT NULL,
        part INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        since REAL NOT NULL,
        updated_at REAL NOT NULL,
        resolved_at REAL,
        PRIMARY KEY (alert_id, kind, part)
    );
    CREATE INDEX evidence_expected_open ON evidence_expected (alert_id) WHERE resolved_at IS NULL;
"""


class Status(StrEnum):
    """Why an expected file is not there."""

    RECORDING = "recording"  # a clip part being written
    MISSING = "missing"  # could not be written (the reason says why)


@dataclass(frozen=True, slots=True)
class Expected:
    """One expected evidence file."""

    alert_id: str
    kind: EvidenceKind
    part: int
    status: Status
    reason: str = ""
    since: float = 0.0

    @property
    def label(self) -> str:
        """``clip part 2``, ``snapshot``."""
        if self.kind is EvidenceKind.CLIP:
            return f"clip part {self.part}"
        return self.kind.value.replace("_", " ")


def expect(db: sqlite3.Connection, item: Expected, at: float) -> None:
    """Record (or update) an expectation inside the caller's transaction; a missing file is
    also an audit entry with its reason."""
    db.execute(
        """
        INSERT INTO evidence_expected (alert_id, kind, part, status, reason, since, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (alert_id, kind, part) DO UPDATE SET status = excluded.status,
            reason = excluded.reason, updated_at = excluded.updated_at, resolved_at = NULL
        """,
        (item.alert_id, item.kind.value, item.part, item.status.value, item.reason, at, at),
    )
    if item.status is Status.MISSING:
        detail = {"kind": item.kind.value, "part": item.part, "reason": item.reason}
        audit.append(db, at, audit.SYSTEM_ACTOR, "evidence.missing", item.alert_id, detail)


def resolve(db: sqlite3.Connection, alert_id: str, files: Iterable[Evidence], at: float) -> None:
    """The files are recorded: their expectations are met."""
    db.executemany(
        "UPDATE evidence_expected SET resolved_at = ?"
        " WHERE alert_id = ? AND kind = ? AND part = ? AND resolved_at IS NULL",
        [(at, alert_id, e.kind.value, e.part) for e in files if e.removed_at is None],
    )


def unresolved(db: sqlite3.Connection, alert_id: str | None = None) -> list[Expected]:
    """Expectations not met, oldest first (of one alert, or all)."""
    clause = "WHERE resolved_at IS NULL" + (" AND alert_id = ?" if alert_id else "")
    rows = db.execute(
        "SELECT alert_id, kind, part, status, reason, since FROM evidence_expected"
        f" {clause} ORDER BY since, alert_id, kind, part",
        (alert_id,) if alert_id else (),
    ).fetchall()
    return [
        Expected(str(r[0]), EvidenceKind(r[1]), int(r[2]), Status(r[3]), str(r[4]), float(r[5]))
        for r in rows
    ]


def missing_count(db: sqlite3.Connection) -> int:
    """Unresolved files that could not be written."""
    row = db.execute(
        "SELECT count(*) FROM evidence_expected WHERE resolved_at IS NULL AND status = ?",
        (Status.MISSING.value,),
    ).fetchone()
    return int(row[0])


def next_clip_part(db: sqlite3.Connection, alert_id: str) -> int:
    """The part number after every clip part recorded or expected."""
    row = db.execute(
        "SELECT max(part) FROM (SELECT part FROM evidence WHERE alert_id = ? AND kind = 'clip'"
        " UNION ALL SELECT part FROM evidence_expected WHERE alert_id = ? AND kind = 'clip')",
        (alert_id, alert_id),
    ).fetchone()
    return int(row[0] or 0) + 1
