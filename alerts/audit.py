"""The audit trail: append-only entries, each sealed by a SHA-256 over its content and the
hash of the entry before it, so that changing, removing or reordering any entry breaks the chain.

An entry's hash is ``sha256`` of the UTF-8 JSON array (no spaces, ASCII escapes)::

    ["sitewatch.audit/1", seq, at, actor, action, alert_id, detail, prev_hash]

with ``at`` formatted with six decimals (``"1800000000.123456"``), ``alert_id`` ``""`` when the
entry concerns no alert, ``detail`` the stored canonical JSON text and ``prev_hash`` the previous
entry's hash (64 zeros for the first). Any language can recompute it.

The chain alone cannot show that entries were cut from its end, so its head (seq, hash) also
leaves the ledger: every MQTT event carries the head at the time it was written and a retained
topic carries the latest one. An auditor who keeps a head checks, with it as the *anchor*, that
the trail still reaches it (``check_anchor``). Entry numbers are never reused: the next entry
follows the highest seq ever written (SQLite's ``sqlite_sequence``), so entries removed from the
end leave a gap that ``verify_chain`` names.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import SitewatchError

AUDIT_FORMAT = "sitewatch.audit/1"
GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "sitewatch"
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
SEQ_PATTERN = re.compile(r"[0-9]{1,18}")


class AnchorSyntaxError(SitewatchError, ValueError):
    """An anchor that is not ``SEQ:HASH``."""


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The last entry of the trail (seq 0 and the genesis hash while it is empty): what leaves
    the ledger, and what an auditor keeps as the anchor."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    def to_dict(self) -> dict[str, Any]:
        """As carried in events (``audit_head``) and served."""
        return {"seq": self.seq, "hash": self.hash}


EMPTY_HEAD = AuditHead(0, GENESIS_HASH)


def parse_anchor(text: str) -> AuditHead:
    """``SEQ:HASH`` (a head as published: ``106:3f9a...``, 64 hex digits) as an AuditHead."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    seq_text, colon, digest = text.strip().partition(":")
    if not colon:
        raise AnchorSyntaxError(f"the anchor {shown!r} is not SEQ:HASH (e.g. 106:3f9a...)")
    if not SEQ_PATTERN.fullmatch(seq_text):
        raise AnchorSyntaxError(f"the anchor's seq {seq_text[:20]!r} is not a whole number >= 0")
    digest = digest.lower()
    if not HASH_PATTERN.fullmatch(digest):
        raise AnchorSyntaxError(
            f"the anchor's hash must be 64 hexadecimal digits (got {len(digest)} characters)"
        )
    head = AuditHead(int(seq_text), digest)
    if head.seq == 0 and head.hash != GENESIS_HASH:
        raise AnchorSyntaxError("an anchor at seq 0 (empty trail) has the genesis hash, 64 zeros")
    return head


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
    last = head(db)
    seq = max(last.seq, written_up_to(db)) + 1  # never reuse the seq of a removed entry
    prev_hash = last.hash
    text = canonical(detail)
    digest = entry_hash(seq, at, actor, action, alert_id, text, prev_hash)
    db.execute(
        "INSERT INTO audit (seq, at, actor, action, alert_id, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, alert_id, text, prev_hash, digest),
    )
    return AuditEntry(seq, at, actor, action, alert_id, text, prev_hash, digest)


def head(db: sqlite3.Connection) -> AuditHead:
    """The last stored entry's seq and hash (``EMPTY_HEAD`` for an empty trail)."""
    last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return EMPTY_HEAD if last is None else AuditHead(int(last[0]), str(last[1]))


def stored_hash(db: sqlite3.Connection, seq: int) -> str | None:
    """The stored hash of entry ``seq`` (None when there is no such entry)."""
    row = db.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def written_up_to(db: sqlite3.Connection) -> int:
    """The highest seq ever written (``sqlite_sequence``; rows removed later do not lower it)."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    return 0 if row is None else int(row[0])


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


def verify_chain(entries: Iterable[AuditEntry], numbered_up_to: int = 0) -> ChainReport:
    """Check numbering, links and hashes in order; stop at the first entry that does not hold.
    ``numbered_up_to``: the highest seq the ledger numbered (``written_up_to``); a trail that
    ends before it lost its last entries."""
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
    last = expected_seq - 1
    if numbered_up_to > last:
        reason = (
            f"entries {last + 1}..{numbered_up_to} are missing: the ledger numbered entries up to"
            f" {numbered_up_to} but the trail ends at {last} (entries were removed from its end)"
        )
        return ChainReport(checked, last, prev_hash, last + 1, reason)
    return ChainReport(checked, last, prev_hash)


def check_anchor(
    report: ChainReport, anchor: AuditHead, anchor_hash: str | None, last_seq: int
) -> str | None:
    """Why the trail does not reach ``anchor`` (None when it does): ``report`` is the chain's
    verification, ``anchor_hash`` the stored hash of entry ``anchor.seq`` and ``last_seq`` the
    highest stored seq."""
    if anchor.seq == 0:
        return None  # every trail starts from the genesis hash
    if last_seq < anchor.seq:
        return (
            f"the chain ends at seq {last_seq}; the anchor is seq {anchor.seq}"
            f" (entries after {last_seq} were removed)"
        )
    if anchor_hash is None:
        return f"entry {anchor.seq}, the anchor, is missing from the trail"
    if anchor_hash != anchor.hash:
        return (
            f"entry {anchor.seq} has hash {anchor_hash}, the anchor says {anchor.hash}:"
            f" the trail was rewritten at or before entry {anchor.seq}"
        )
    if report.first_broken is not None and report.first_broken <= anchor.seq:
        return (
            f"the chain breaks at entry {report.first_broken}, before it reaches the anchor"
            f" (seq {anchor.seq})"
        )
    return None
