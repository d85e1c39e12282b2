"""The SQLite ledger: alerts, events, the MQTT outbox and the audit trail, in WAL mode.

One connection guarded by one lock is the single writer. Every alert change is stored together
with its event and its outbox row in one transaction, so a crash never leaves an alert without
the message that announces it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.model import Alert, AlertChange, Evidence, EvidenceKind

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE alerts (
        alert_id TEXT PRIMARY KEY,
        camera TEXT NOT NULL,
        zone TEXT NOT NULL,
        hazard TEXT NOT NULL,
        severity TEXT NOT NULL,
        score REAL NOT NULL,
        peak_score REAL NOT NULL,
        started_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        ended_at REAL,
        workflow_state TEXT NOT NULL DEFAULT 'open',
        snapshot_path TEXT,
        snapshot_sha256 TEXT,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_by_key ON alerts (camera, zone, hazard, started_at);
    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        alert_id TEXT NOT NULL REFERENCES alerts (alert_id),
        type TEXT NOT NULL,
        created_at REAL NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX events_by_alert ON events (alert_id, created_at);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL REFERENCES events (event_id),
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        delivered_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_at IS NULL;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        alert_id TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: every evidence file (snapshots, annotated copies, clip parts) with its digest and
    # the time retention removed it; the start snapshot of version 1 moves in.
    """
    CREATE TABLE evidence (
        alert_id TEXT NOT NULL REFERENCES alerts (alert_id),
        kind TEXT NOT NULL,
        part INTEGER NOT NULL DEFAULT 1,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_at REAL NOT NULL,
        covers_from REAL,
        covers_to REAL,
        removed_at REAL,
        PRIMARY KEY (alert_id, kind, part)
    );
    INSERT INTO evidence (alert_id, kind, part, path, sha256, created_at)
        SELECT alert_id, 'snapshot', 1, snapshot_path, snapshot_sha256, started_at
        FROM alerts WHERE snapshot_path IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message waiting for its PUBACK."""

    seq: int
    event_id: str
    topic: str
    payload: str


class LedgerError(RuntimeError):
    """The ledger file cannot be used (newer schema, not a sitewatch ledger...)."""


class Ledger:
    """Durable store of everything sitewatch must never lose."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path}: ledger schema {version} is newer than this sitewatch "
                f"({SCHEMA_VERSION}); upgrade sitewatch"
            )
        with self._lock:
            for number in range(version, SCHEMA_VERSION):
                script = MIGRATIONS[number]
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE;{script}PRAGMA user_version={number + 1};COMMIT;"
                    )
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Checkpoint and close."""
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        """The stored schema version."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # --- writes -------------------------------------------------------------------------------

    def record(
        self,
        change: AlertChange,
        event_id: str,
        created_at: float,
        topic: str,
        payload: str,
    ) -> None:
        """Store the alert as it is after ``change``, its event and its outbox row, atomically."""
        alert = change.after
        with self._transaction() as db:
            db.execute(
                """
                INSERT INTO alerts (alert_id, camera, zone, hazard, severity, score, peak_score,
                    started_at, updated_at, ended_at, workflow_state, details)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (alert_id) DO UPDATE SET severity = excluded.severity,
                    score = excluded.score, peak_score = excluded.peak_score,
                    updated_at = excluded.updated_at, ended_at = excluded.ended_at,
                    workflow_state = excluded.workflow_state, details = excluded.details
                """,
                (
                    alert.alert_id,
                    alert.camera,
                    alert.zone,
                    alert.hazard,
                    alert.severity,
                    alert.score,
                    alert.peak_score,
                    alert.started_at,
                    alert.updated_at,
                    alert.ended_at,
                    alert.workflow_state,
                    json.dumps(alert.details, sort_keys=True),
                ),
            )
            db.executemany(
                """
                INSERT INTO evidence (alert_id, kind, part, path, sha256, created_at,
                    covers_from, covers_to)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (alert_id, kind, part) DO UPDATE SET path = excluded.path,
                    sha256 = excluded.sha256, covers_from = excluded.covers_from,
                    covers_to = excluded.covers_to
                """,
                [
                    (
                        alert.alert_id,
                        e.kind.value,
                        e.part,
                        e.path,
                        e.sha256,
                        created_at,
                        e.covers[0] if e.covers else None,
                        e.covers[1] if e.covers else None,
                    )
                    for e in alert.evidence
                    if e.removed_at is None
                ],
            )
            db.execute(
                "INSERT INTO events (event_id, alert_id, type, created_at, payload)"
                " VALUES (?, ?, ?, ?, ?)",
                (event_id, alert.alert_id, change.type.value, created_at, payload),
            )
            db.execute(
                "INSERT INTO outbox (event_id, topic, payload, created_at) VALUES (?, ?, ?, ?)",
                (event_id, topic, payload, created_at),
            )

    def mark_delivered(self, seqs: list[int], at: float) -> None:
        """Record PUBACKs."""
        if not seqs:
            return
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
                [(at, seq) for seq in seqs],
            )

    def note_attempt(self, seq: int) -> None:
        """Count a publish attempt (resends show up here)."""
        with self._transaction() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    # --- reads --------------------------------------------------------------------------------

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxItem]:
        """Undelivered outbox rows in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, payload FROM outbox"
                " WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            OutboxItem(row["seq"], row["event_id"], row["topic"], row["payload"]) for row in rows
        ]

    def pending_count(self) -> int:
        """Outbox depth."""
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
            return int(row.fetchone()[0])

    def open_alerts(self) -> list[Alert]:
        """Alerts whose incident has not ended."""
        return self._alerts("WHERE ended_at IS NULL ORDER BY started_at", ())

    def last_ended(self, camera: str, zone: str, hazard: str) -> Alert | None:
        """The most recently ended alert for a camera zone and hazard."""
        found = self._alerts(
            "WHERE camera = ? AND zone = ? AND hazard = ? AND ended_at IS NOT NULL"
            " ORDER BY ended_at DESC LIMIT 1",
            (camera, zone, hazard),
        )
        return found[0] if found else None

    def alert(self, alert_id: str) -> Alert | None:
        """One alert by id."""
        found = self._alerts("WHERE alert_id = ?", (alert_id,))
        return found[0] if found else None

    def recent_alerts(self, limit: int = 100) -> list[Alert]:
        """Newest first."""
        return self._alerts("ORDER BY started_at DESC LIMIT ?", (limit,))

    def events(self, alert_id: str) -> list[dict[str, Any]]:
        """Stored event payloads of one alert, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM events WHERE alert_id = ? ORDER BY created_at, event_id",
                (alert_id,),
            ).fetchall()
        return [json.loads(row["payload"]) for row in rows]

    def set_workflow_state(self, alert_id: str, state: str) -> None:
        """Change a case's workflow state (the full workflow arrives with the operator API)."""
        with self._transaction() as db:
            db.execute("UPDATE alerts SET workflow_state = ? WHERE alert_id = ?", (state, alert_id))

    def evidence_files(self) -> list[tuple[Alert, Evidence]]:
        """Every evidence file still on disk with its alert, oldest alert first."""
        alerts = self._alerts(
            "WHERE alert_id IN (SELECT alert_id FROM evidence WHERE removed_at IS NULL)"
            " ORDER BY started_at",
            (),
        )
        return [(a, e) for a in alerts for e in a.evidence if e.removed_at is None]

    def mark_evidence_removed(self, alert_id: str, kind: str, part: int, at: float) -> None:
        """Retention deleted a file: the row stays, with the time."""
        with self._transaction() as db:
            db.execute(
                "UPDATE evidence SET removed_at = ? WHERE alert_id = ? AND kind = ? AND part = ?",
                (at, alert_id, kind, part),
            )

    def _alerts(self, clause: str, params: tuple[Any, ...]) -> list[Alert]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM alerts {clause}", params).fetchall()
            ids = [row["alert_id"] for row in rows]
            evidence: dict[str, list[Evidence]] = {alert_id: [] for alert_id in ids}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for e in self._db.execute(
                    f"SELECT * FROM evidence WHERE alert_id IN ({marks}) ORDER BY kind, part",
                    chunk,
                ):
                    evidence[e["alert_id"]].append(
                        Evidence(
                            e["path"],
                            e["sha256"],
                            EvidenceKind(e["kind"]),
                            e["part"],
                            e["removed_at"],
                            None
                            if e["covers_from"] is None
                            else (e["covers_from"], e["covers_to"]),
                        )
                    )
        return [_alert_from_row(row, tuple(evidence[row["alert_id"]])) for row in rows]


def _alert_from_row(row: sqlite3.Row, evidence: tuple[Evidence, ...]) -> Alert:
    return Alert(
        alert_id=row["alert_id"],
        camera=row["camera"],
        zone=row["zone"],
        hazard=row["hazard"],
        severity=row["severity"],
        score=row["score"],
        peak_score=row["peak_score"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        workflow_state=row["workflow_state"],
        evidence=evidence,
        details=json.loads(row["details"]),
    )
