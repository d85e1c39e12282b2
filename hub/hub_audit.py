"""The hub's own audit trail: every action taken at the centre (commands issued and settled,
supervised listings and close-outs, escalations), append-only (a trigger refuses UPDATE and
DELETE) and hash-chained like the edges' trail. An entry's hash is ``sha256`` of the UTF-8 JSON
array (no spaces, ASCII escapes)::

    ["sitewatch.hub-audit/1", seq, at (ISO 8601 UTC, microseconds), actor, action, subject,
     detail (canonical JSON text), prev_hash]

Appends from several hub processes are serialised by an advisory transaction lock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.store import Db

HUB_AUDIT_FORMAT = "sitewatch.hub-audit/1"
GENESIS = "0" * 64
APPEND_LOCK = 0x5157_0002


@dataclass(frozen=True, slots=True)
class HubAuditReport:
    """A verification: ``first_broken`` names the first entry that does not hold."""

    checked: int
    head_seq: int
    head_hash: str
    first_broken: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the API serves it."""
        return {
            "ok": self.first_broken is None,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_broken": self.first_broken,
            "reason": self.reason,
        }


def entry_hash(
    seq: int, at: datetime, actor: str, action: str, subject: str, detail: str, prev: str
) -> str:
    """The hash of one entry (see the module docstring)."""
    moment = at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    fields = [HUB_AUDIT_FORMAT, seq, moment, actor, action, subject, detail, prev]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def append(
    db: Db,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any],
    at: datetime | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its seq."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
    last = db.execute("SELECT seq, hash FROM hub_audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
    moment = at or datetime.now(UTC)
    text = json.dumps(
        dict(detail), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    )
    digest = entry_hash(seq, moment, actor, action, subject, text, prev)
    db.execute(
        "INSERT INTO hub_audit (seq, at, actor, action, subject, detail, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (seq, moment, actor, action, subject, text, prev, digest),
    )
    return seq


def verify(db: Db) -> HubAuditReport:
    """Recompute every link and hash in order."""
    expected, prev, checked = 1, GENESIS, 0
    rows = db.execute(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM hub_audit"
        " ORDER BY seq"
    )
    for seq, at, actor, action, subject, detail, prev_hash, digest in rows:
        reason = None
        if seq != expected:
            reason = f"entry {expected} is missing (next stored entry is {seq})"
        elif prev_hash != prev:
            reason = f"entry {seq} does not link to entry {seq - 1}"
        elif entry_hash(seq, at, actor, action, subject, detail, prev) != digest:
            reason = f"entry {seq} was altered (its content no longer matches its hash)"
        if reason is not None:
            return HubAuditReport(checked, expected - 1, prev, expected, reason)
        checked, expected, prev = checked + 1, seq + 1, digest
    return HubAuditReport(checked, expected - 1, prev)
