"""The SQLite ledger: alerts, events, the MQTT outbox and the audit trail, in WAL mode.

One connection guarded by one lock is the single writer. Every alert change is stored together
with its event and its outbox row in one transaction, so a crash never leaves an alert without
the message that announces it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alerts import audit, evidence_expected
from alerts.contract import with_audit_head
from alerts.model import Alert, AlertChange, EventType, Evidence, EvidenceKind
from core.errors import SitewatchError
from core.vocabulary import CaseState, Hazard, Severity

log = logging.getLogger(__name__)

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
    # 3: the case workflow (owner, deadline), hashed API tokens, a hash-chained audit trail
    # (existing rows are chained by _seal_audit_trail) and indexes for filtered alert lists.
    """
    ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    CREATE INDEX audit_by_alert ON audit (alert_id, seq);
    CREATE TABLE cases (
        alert_id TEXT PRIMARY KEY REFERENCES alerts (alert_id),
        owner TEXT,
        deadline REAL,
        escalated_at REAL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        token_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        salt TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at REAL
    );
    CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
    CREATE INDEX alerts_by_start ON alerts (started_at, alert_id);
    CREATE INDEX alerts_by_camera ON alerts (camera, started_at, alert_id);
    CREATE INDEX alerts_by_hazard ON alerts (hazard, started_at, alert_id);
    CREATE INDEX alerts_by_state ON alerts (workflow_state, started_at, alert_id);
    """,
    # 4: evidence expected but not (yet) there: clip parts being recorded, files a full disk
    # refused (alerts.evidence_expected).
    evidence_expected.TABLE,
)
SCHEMA_VERSION = len(MIGRATIONS)
APPEND_ONLY_TRIGGERS = """
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


def _normal(sql: str) -> str:
    return " ".join(sql.rstrip("; \n").split())


def append_only_guards() -> dict[str, str]:
    """The append-only triggers by name, as their CREATE statements."""
    return {text.split()[2]: text for text in statements(APPEND_ONLY_TRIGGERS)}


def missing_guards(db: sqlite3.Connection) -> list[str]:
    """The append-only triggers that are missing or not as sitewatch created them."""
    stored = {
        str(name): _normal(str(sql))
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    }
    return [name for name, sql in append_only_guards().items() if stored.get(name) != _normal(sql)]


def _seal_audit_trail(db: sqlite3.Connection) -> None:
    """Migration 3, after its script: chain any earlier audit rows, record the alerts and
    evidence stored before the trail existed, then make the table append-only."""
    prev = audit.GENESIS_HASH
    rows = db.execute(f"SELECT {audit.ENTRY_COLUMNS} FROM audit ORDER BY seq").fetchall()
    for row in rows:
        entry = audit.entry_from_row(row)
        digest = audit.entry_hash(
            entry.seq, entry.at, entry.actor, entry.action, entry.alert_id, entry.detail, prev
        )
        db.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, entry.seq)
        )
        prev = digest
    for alert in read_alerts(db, "ORDER BY started_at, alert_id", ()):
        _audit_alert(db, alert.started_at, None, alert, {"migrated": True})
    for statement in statements(APPEND_ONLY_TRIGGERS):
        db.execute(statement)


def statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (triggers keep their inner semicolons);
    ``executescript`` would commit the open migration transaction."""
    found: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                found.append(pending.strip())
            pending = ""
    return found


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored, with its position (SQLite rowid) for live streams."""

    position: int
    event_id: str
    alert_id: str
    type: str
    payload: str


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a list shows (None: any)."""

    camera: str | None = None
    hazard: str | None = None
    state: str | None = None
    started_from: float | None = None  # inclusive
    started_to: float | None = None  # exclusive

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions and their parameters."""
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("camera", self.camera),
            ("hazard", self.hazard),
            ("workflow_state", self.state),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if self.started_from is not None:
            conditions.append("started_at >= ?")
            params.append(self.started_from)
        if self.started_to is not None:
            conditions.append("started_at < ?")
            params.append(self.started_to)
        return conditions, params


AFTER_MIGRATION: dict[int, Callable[[sqlite3.Connection], None]] = {3: _seal_audit_trail}


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message waiting for its PUBACK."""

    seq: int
    event_id: str
    topic: str
    payload: str


class LedgerError(SitewatchError, RuntimeError):
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
                    self._db.execute("BEGIN IMMEDIATE")
                    for statement in statements(script):
                        self._db.execute(statement)
                    hook = AFTER_MIGRATION.get(number + 1)
                    if hook is not None:
                        hook(self._db)
                    self._db.execute(f"PRAGMA user_version={number + 1}")
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed at the end, rolled back on error.
        Other modules use it to write several tables atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads (the single connection is shared, so reads hold the lock)."""
        with self._lock:
            yield self._db

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A separate read-only connection inside one read transaction: a consistent view for
        long reads (audit verification, dossiers) that never blocks the writer."""
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("BEGIN")
            yield db
        finally:
            db.close()

    def close(self) -> None:
        """Checkpoint and close."""
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        """The stored schema version."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def restore_append_only(self, at: float | None = None) -> list[str]:
        """Recreate the audit trail's append-only triggers where they are missing or altered
        (at start), say so in the log and in the trail; returns the triggers restored."""
        with self.transaction() as db:
            restored = missing_guards(db)
            if not restored:
                return []
            guards = append_only_guards()
            for name in restored:
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
                db.execute(guards[name])
            detail = {"triggers": restored, "reason": "missing or altered at start"}
            when = time.time() if at is None else at
            entry = audit.append(db, when, audit.SYSTEM_ACTOR, "audit.guard_restored", None, detail)
        log.warning(
            "%s: the audit trail's append-only triggers were missing or altered (%s): the ledger"
            " was changed outside sitewatch; recreated them (audit entry %d). Check the trail"
            " with `sitewatch audit verify --anchor SEQ:HASH` and the last head you kept.",
            self.path,
            ", ".join(restored),
            entry.seq,
        )
        return restored

    def latest_audit(self) -> tuple[audit.AuditHead, float | None]:
        """The trail's head and when its last entry was written (None for an empty trail)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return audit.EMPTY_HEAD, None
        return audit.AuditHead(int(row[0]), str(row[1])), float(row[2])

    # --- writes -------------------------------------------------------------------------------

    def record(
        self,
        change: AlertChange,
        event_id: str,
        created_at: float,
        topic: str,
        payload: str | Callable[[AlertChange], str],
        expected: Sequence[evidence_expected.Expected] = (),
    ) -> AlertChange:
        """Store the alert as it is after ``change``, its event, its outbox row and its audit
        entries (creation, end, new evidence with digests), atomically.

        Detection never changes a case's workflow state: the stored state wins and ``payload``,
        when a callable, is built from the change as stored (which is returned). The alert's
        files meet their expectations; ``expected`` records evidence that is not there (a file
        the disk refused), in the same transaction.
        """
        with self.transaction() as db:
            row = db.execute(
                "SELECT workflow_state FROM alerts WHERE alert_id = ?", (change.after.alert_id,)
            ).fetchone()
            if row is not None and row[0] != change.after.workflow_state:
                change = _with_workflow_state(change, row[0])
            alert = change.after
            db.execute(
                """
                INSERT INTO alerts (alert_id, camera, zone, hazard, severity, score, peak_score,
                    started_at, updated_at, ended_at, workflow_state, details)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (alert_id) DO UPDATE SET severity = excluded.severity,
                    score = excluded.score, peak_score = excluded.peak_score,
                    updated_at = excluded.updated_at, ended_at = excluded.ended_at,
                    details = excluded.details
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
            evidence_expected.resolve(db, alert.alert_id, alert.evidence, created_at)
            for item in expected:
                evidence_expected.expect(db, item, created_at)
            text = payload if isinstance(payload, str) else payload(change)
            text = insert_event(
                db, event_id, alert.alert_id, change.type.value, created_at, topic, text
            )
            seal = event_seal(event_id, text, change.type, alert)
            sealed = 0
            if change.type is EventType.END:
                detail = {"ended_at": alert.ended_at, "peak_score": alert.peak_score, **seal}
                audit.append(
                    db, created_at, audit.SYSTEM_ACTOR, "alert.ended", alert.alert_id, detail
                )
                sealed += 1
            sealed += _audit_alert(db, created_at, change.before, alert, seal)
            if not sealed:  # every event is sealed in the trail, updates too
                audit.append(
                    db, created_at, audit.SYSTEM_ACTOR, "alert.updated", alert.alert_id, seal
                )
        return change

    def expect_evidence(self, item: evidence_expected.Expected, at: float) -> None:
        """Record evidence that should come (a clip part recording) or could not be written."""
        with self.transaction() as db:
            evidence_expected.expect(db, item, at)

    def expected_evidence(self, alert_id: str | None = None) -> list[evidence_expected.Expected]:
        """Expected evidence not recorded yet (of one alert, or all)."""
        with self._lock:
            return evidence_expected.unresolved(self._db, alert_id)

    def evidence_missing_count(self) -> int:
        """Evidence files that could not be written and are not there yet."""
        with self._lock:
            return evidence_expected.missing_count(self._db)

    def next_clip_part(self, alert_id: str) -> int:
        """The next clip part number of an alert."""
        with self._lock:
            return evidence_expected.next_clip_part(self._db, alert_id)

    def mark_delivered(self, seqs: list[int], at: float) -> None:
        """Record PUBACKs."""
        if not seqs:
            return
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
                [(at, seq) for seq in seqs],
            )

    def note_attempt(self, seq: int) -> None:
        """Count a publish attempt (resends show up here)."""
        with self.transaction() as db:
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

    def hazard_counts(self) -> dict[str, dict[str, int]]:
        """Alerts raised and still open, by hazard."""
        with self._lock:
            rows = self._db.execute(
                "SELECT hazard, count(*), sum(ended_at IS NULL) FROM alerts GROUP BY hazard"
            ).fetchall()
        return {str(h): {"total": int(t), "open": int(o or 0)} for h, t, o in rows}

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

    def set_workflow_state(self, alert_id: str, state: str, at: float | None = None) -> None:
        """Set a case's workflow state without the workflow's checks (tests, repairs); audited.
        Operators go through ``alerts.cases.CaseService``."""
        with self.transaction() as db:
            db.execute("UPDATE alerts SET workflow_state = ? WHERE alert_id = ?", (state, alert_id))
            when = time.time() if at is None else at
            audit.append(db, when, audit.SYSTEM_ACTOR, "case.state_set", alert_id, {"to": state})

    def evidence_files(self) -> list[tuple[Alert, Evidence]]:
        """Every evidence file still on disk with its alert, oldest alert first."""
        alerts = self._alerts(
            "WHERE alert_id IN (SELECT alert_id FROM evidence WHERE removed_at IS NULL)"
            " ORDER BY started_at",
            (),
        )
        return [(a, e) for a in alerts for e in a.evidence if e.removed_at is None]

    def mark_evidence_removed(self, alert_id: str, kind: str, part: int, at: float) -> None:
        """Retention deleted a file: the row stays, with the time (and an audit entry)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE evidence SET removed_at = ? WHERE alert_id = ? AND kind = ? AND part = ?",
                (at, alert_id, kind, part),
            )
            detail = {"kind": kind, "part": part}
            audit.append(db, at, "retention", "evidence.removed", alert_id, detail)

    def query_alerts(
        self, where: AlertFilter, limit: int, before: tuple[float, str] | None = None
    ) -> list[Alert]:
        """Newest first (by start, then id), at most ``limit``, strictly after the keyset
        cursor ``before`` = (started_at, alert_id) of the last alert of the previous page."""
        conditions, params = where.where()
        if before is not None:
            conditions.append("(started_at, alert_id) < (?, ?)")
            params.extend(before)
        clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return self._alerts(
            f"{clause} ORDER BY started_at DESC, alert_id DESC LIMIT ?", (*params, limit)
        )

    def daily_counts(
        self, started_from: float, started_to: float, utc_offset_s: int = 0
    ) -> list[tuple[str, str, int]]:
        """(day ``YYYY-MM-DD``, hazard, alerts) of the alerts started in [from, to), the day
        taken at ``utc_offset_s`` from UTC; ordered by day and hazard, empty days left out."""
        with self._lock:
            rows = self._db.execute(
                "SELECT date(started_at + ?, 'unixepoch') AS day, hazard, count(*) FROM alerts"
                " WHERE started_at >= ? AND started_at < ? GROUP BY day, hazard"
                " ORDER BY day, hazard",
                (utc_offset_s, started_from, started_to),
            ).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def events_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        """Events stored after ``position`` (0: from the first), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, event_id, alert_id, type, payload FROM events"
                " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (position, limit),
            ).fetchall()
        return [StoredEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def last_event_position(self) -> int:
        """The position of the newest event (0 when there is none)."""
        with self._lock:
            return int(self._db.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0])

    def _alerts(self, clause: str, params: tuple[Any, ...]) -> list[Alert]:
        with self._lock:
            return read_alerts(self._db, clause, params)


def read_alerts(db: sqlite3.Connection, clause: str, params: tuple[Any, ...]) -> list[Alert]:
    """Alerts with their evidence (the caller holds the ledger's lock or a transaction)."""
    rows = db.execute(f"SELECT * FROM alerts {clause}", params).fetchall()
    ids = [row["alert_id"] for row in rows]
    evidence: dict[str, list[Evidence]] = {alert_id: [] for alert_id in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for e in db.execute(
            f"SELECT * FROM evidence WHERE alert_id IN ({marks}) ORDER BY kind, part", chunk
        ):
            evidence[e["alert_id"]].append(
                Evidence(
                    e["path"],
                    e["sha256"],
                    EvidenceKind(e["kind"]),
                    e["part"],
                    e["removed_at"],
                    None if e["covers_from"] is None else (e["covers_from"], e["covers_to"]),
                )
            )
    return [_alert_from_row(row, tuple(evidence[row["alert_id"]])) for row in rows]


def insert_event(
    db: sqlite3.Connection,
    event_id: str,
    alert_id: str,
    event_type: str,
    created_at: float,
    topic: str,
    payload: str,
) -> str:
    """An event and its outbox row (inside the caller's transaction); the payload is stored
    with the audit trail's current head (``audit_head``) and returned as stored, for the
    entry that seals it (``event_seal``)."""
    payload = with_audit_head(payload, audit.head(db))
    db.execute(
        "INSERT INTO events (event_id, alert_id, type, created_at, payload) VALUES (?, ?, ?, ?, ?)",
        (event_id, alert_id, event_type, created_at, payload),
    )
    db.execute(
        "INSERT INTO outbox (event_id, topic, payload, created_at) VALUES (?, ?, ?, ?)",
        (event_id, topic, payload, created_at),
    )
    return payload


def event_seal(event_id: str, payload: str, event_type: EventType, alert: Alert) -> dict[str, Any]:
    """What the audit entry of an event holds: the event's digest and the alert's state as
    the event leaves it, so that verification can compare the stored rows with the trail."""
    return {
        "event_id": event_id,
        "event_sha256": sha256_text(payload),
        "event_type": event_type.value,
        "severity": alert.severity,
        "workflow_state": alert.workflow_state,
    }


def sha256_text(text: str) -> str:
    """Hex SHA-256 of UTF-8 text."""
    return hashlib.sha256(text.encode()).hexdigest()


def _with_workflow_state(change: AlertChange, stored: str) -> AlertChange:
    state = CaseState(stored)
    before = None if change.before is None else replace(change.before, workflow_state=state)
    return replace(change, before=before, after=replace(change.after, workflow_state=state))


def _audit_alert(
    db: sqlite3.Connection,
    at: float,
    before: Alert | None,
    alert: Alert,
    extra: dict[str, Any],
) -> int:
    """Audit entries for a new alert and for evidence files it did not have before; returns
    how many it appended."""
    appended = 0
    if before is None:
        detail = {
            "camera": alert.camera,
            "zone": alert.zone,
            "hazard": alert.hazard,
            "severity": alert.severity,
            "score": alert.score,
            "started_at": alert.started_at,
            "workflow_state": alert.workflow_state,
            **extra,
        }
        audit.append(db, at, audit.SYSTEM_ACTOR, "alert.created", alert.alert_id, detail)
        appended += 1
    known = set() if before is None else {(e.name, e.sha256) for e in before.evidence}
    for item in alert.evidence:
        if item.removed_at is None and (item.name, item.sha256) not in known:
            detail = {
                "kind": item.kind.value,
                "part": item.part,
                "name": item.name,
                "path": item.path,
                "sha256": item.sha256,
                **extra,
            }
            audit.append(db, at, audit.SYSTEM_ACTOR, "evidence.added", alert.alert_id, detail)
            appended += 1
    return appended


def _alert_from_row(row: sqlite3.Row, evidence: tuple[Evidence, ...]) -> Alert:
    return Alert(
        alert_id=row["alert_id"],
        camera=row["camera"],
        zone=row["zone"],
        hazard=Hazard(row["hazard"]),
        severity=Severity(row["severity"]),
        score=row["score"],
        peak_score=row["peak_score"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        workflow_state=CaseState(row["workflow_state"]),
        evidence=evidence,
        details=json.loads(row["details"]),
    )
