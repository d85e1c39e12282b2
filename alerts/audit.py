"""The audit trail: append-only entries, each sealed by a SHA-256 over its content and the
hash of the entry before it, so that changing, removing or reordering any entry breaks the chain.

An entry's hash is ``sha256`` of the UTF-8 JSON array (no spaces, ASCII escapes)::

    ["sitewatch.audit/1", seq, at, actor, action, alert_id, detail, prev_hash]

with ``at`` formatted with six decimals (``"1800000000.123456"``), ``alert_id`` ``""`` when the
entry concerns no alert, ``detail`` the stored canonical JSON text and ``prev_hash`` the previous
entry's hash (64 zeros for the first). Any language can recompute it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

AUDIT_FORMAT = "sitewatch.audit/1"
GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "sitewatch"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry of the trail."""

    seq: int
    at: float
    actor: str
    action: str
    alert_id: str | None
    detail: str  # canonical JSON text, hashed as stored
    prev_hash: str
    hash: str

    @property
    def details(self) -> dict[str, Any]:
        """The detail as a dict."""
        parsed: dict[str, Any] = json.loads(self.detail)
        return parsed

    def to_dict(self) -> dict[str, Any]:
        """The entry as served and exported (``detail`` parsed, ``detail_text`` as hashed)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "alert_id": self.alert_id,
            "detail": self.details,
            "detail_text": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What a verification found: ``first_broken`` is the seq of the first entry that does not
    hold (None when the whole chain holds)."""

    checked: int
    head_seq: int
    head_hash: str
    first_broken: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when every entry holds."""
        return self.first_broken is None

    def to_dict(self) -> dict[str, Any]:
        """As served by ``/api/audit/verify`` and stored in dossiers."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_broken": self.first_broken,
            "reason": self.reason,
        }


def canonical(detail: Mapping[str, Any]) -> str:
    """The stored (and hashed) text of a detail mapping."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_hash(
    seq: int,
    at: float,
    actor: str,
    action: str,
    alert_id: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    """The hash of one entry (see the module docstring)."""
    fields = [AUDIT_FORMAT, seq, f"{at:.6f}", actor, action, alert_id or "", detail, prev_hash]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def append(
    db: sqlite3.Connection,
    at: float,
    actor: str,
    action: str,
    alert_id: str | None,
    detail: Mapping[str, Any],
) -> AuditEntry:
    """Append one entry; the caller holds a write transaction (``BEGIN IMMEDIATE``), so the
    previous hash read here is the last one."""
    last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq = 1 if last is None else int(last[0]) + 1
    prev_hash = GENESIS_HASH if last is None else str(last[1])
    text = canonical(detail)
    digest = entry_hash(seq, at, actor, action, alert_id, text, prev_hash)
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, alert_id, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, alert_id, text, prev_hash, digest),
    )
    return AuditEntry(seq, at, actor, action, alert_id, text, prev_hash, digest)


def entry_from_row(row: sqlite3.Row | tuple[Any, ...]) -> AuditEntry:
    """An entry from a row selected with ``ENTRY_COLUMNS``."""
    seq, at, actor, action, alert_id, detail, prev_hash, digest = tuple(row)
    return AuditEntry(int(seq), float(at), actor, action, alert_id, detail, prev_hash, digest)


ENTRY_COLUMNS = "seq, at, actor, action, alert_id, detail, prev_hash, hash"


def read_entries(db: sqlite3.Connection, batch: int = 5000) -> Iterator[AuditEntry]:
    """Every entry in seq order, read in batches (the trail may be long)."""
    after = 0
    while True:
        rows = db.execute(
            f"SELECT {ENTRY_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, batch),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield entry_from_row(row)
        after = int(rows[-1][0])


def verify_chain(entries: Iterable[AuditEntry]) -> ChainReport:
    """Check numbering, links and hashes in order; stop at the first entry that does not hold."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for entry in entries:
        reason = None
        if entry.seq != expected_seq:
            reason = (
                f"entry {expected_seq} is missing (next stored entry is {entry.seq})"
                if entry.seq > expected_seq
                else f"entry {entry.seq} is out of order"
            )
            broken = expected_seq
        elif entry.prev_hash != prev_hash:
            reason = f"entry {entry.seq} does not link to entry {entry.seq - 1} (prev_hash differs)"
            broken = entry.seq
        else:
            recomputed = entry_hash(
                entry.seq,
                entry.at,
                entry.actor,
                entry.action,
                entry.alert_id,
                entry.detail,
                entry.prev_hash,
            )
            if recomputed != entry.hash:
                reason = f"entry {entry.seq} was altered (its content no longer matches its hash)"
                broken = entry.seq
        if reason is not None:
            return ChainReport(checked, expected_seq - 1, prev_hash, broken, reason)
        checked += 1
        expected_seq += 1
        prev_hash = entry.hash
    return ChainReport(checked, expected_seq - 1, prev_hash)
