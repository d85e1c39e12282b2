"""The ledger's rows against what the audit trail holds: an alert row whose hazard, severity
or workflow state differs from its last audited state, an event or outbox payload whose digest
differs from the one sealed in the trail, and rows the trail does not know (or lost).

What the trail fixes, per alert, folding its entries in seq order:

- ``hazard``: from ``alert.created``;
- ``severity`` and ``workflow_state``: from every entry that carries them (``alert.created``
  and the seal of every event, see ``ledger.event_seal``), and ``workflow_state`` from the
  ``to`` of every case action;
- the digest of every event (``event_id`` / ``event_sha256``).

Trails written before every event was sealed (no entry carries ``event_type``) stay
verifiable: their unsealed update events are counted, not reported, and an alert's severity
is left unchecked once such an event may have changed it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from alerts import audit
from alerts.ledger import sha256_text

CHECKED_FIELDS = ("hazard", "severity", "workflow_state")


@dataclass(frozen=True, slots=True)
class RowReport:
    """What the comparison found."""

    alerts_checked: int
    events_checked: int
    unsealed_legacy_events: int
    problems: tuple[str, ...]


@dataclass(slots=True)
class _Expected:
    """One alert as the trail describes it: field -> (value, seq and time of the entry)."""

    created_seq: int
    fields: dict[str, tuple[str, int, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Seal:
    seq: int
    alert_id: str | None
    sha256: str


@dataclass(slots=True)
class _Trail:
    alerts: dict[str, _Expected] = field(default_factory=dict)
    seals: dict[str, _Seal] = field(default_factory=dict)
    every_event_sealed_from: float | None = None  # time of the first full seal


def _fold(entries: Iterable[audit.AuditEntry]) -> _Trail:
    trail = _Trail()
    for entry in entries:
        detail = entry.details
        if "event_id" in detail and "event_sha256" in detail:
            trail.seals.setdefault(
                str(detail["event_id"]),
                _Seal(entry.seq, entry.alert_id, str(detail["event_sha256"])),
            )
            if "event_type" in detail and trail.every_event_sealed_from is None:
                trail.every_event_sealed_from = entry.at
        if entry.alert_id is None:
            continue
        if entry.action == "alert.created":
            expected = trail.alerts.setdefault(entry.alert_id, _Expected(entry.seq))
            if "workflow_state" not in detail and not detail.get("migrated"):
                expected.fields["workflow_state"] = ("open", entry.seq, entry.at)  # the default
        expected_or_none = trail.alerts.get(entry.alert_id)
        if expected_or_none is None:
            continue
        values = {name: detail[name] for name in CHECKED_FIELDS if name in detail}
        if entry.action.startswith("case.") and "to" in detail:
            values["workflow_state"] = detail["to"]
        for name, value in values.items():
            expected_or_none.fields[name] = (str(value), entry.seq, entry.at)
    return trail


def check_rows(db: sqlite3.Connection) -> RowReport:
    """Compare alerts, events and outbox rows with the trail (``db``: one read transaction)."""
    trail = _fold(audit.read_entries(db))
    problems: list[str] = []
    unchecked_severity: set[str] = set()
    legacy = 0
    events = 0
    seen: set[str] = set()
    for event_id, alert_id, created_at, payload in db.execute(
        "SELECT event_id, alert_id, created_at, payload FROM events ORDER BY rowid"
    ):
        events += 1
        seen.add(event_id)
        seal = trail.seals.get(event_id)
        if seal is None:
            full_from = trail.every_event_sealed_from
            if full_from is not None and created_at >= full_from:
                problems.append(f"event {event_id} (alert {alert_id}) is not in the audit trail")
                continue
            legacy += 1
            expected = trail.alerts.get(alert_id)
            severity = None if expected is None else expected.fields.get("severity")
            if severity is not None and created_at >= severity[2]:
                unchecked_severity.add(alert_id)  # an unsealed update may have changed it
            continue
        if sha256_text(payload) != seal.sha256:
            problems.append(
                f"event {event_id} (alert {alert_id}): the stored payload differs from the"
                f" digest sealed in audit entry {seal.seq}"
            )
        elif seal.alert_id is not None and seal.alert_id != alert_id:
            problems.append(
                f"event {event_id}: stored for alert {alert_id}, sealed in audit entry"
                f" {seal.seq} for alert {seal.alert_id}"
            )
    for event_id, seal in trail.seals.items():
        if event_id not in seen:
            problems.append(
                f"event {event_id} (alert {seal.alert_id}), sealed in audit entry {seal.seq},"
                " is missing from the events table"
            )
    for seq, event_id, payload in db.execute("SELECT seq, event_id, payload FROM outbox"):
        seal = trail.seals.get(event_id)
        if seal is not None and sha256_text(payload) != seal.sha256:
            problems.append(
                f"outbox message {seq} (event {event_id}): the payload differs from the digest"
                f" sealed in audit entry {seal.seq}"
            )
    alerts = 0
    stored: set[str] = set()
    columns = ", ".join(CHECKED_FIELDS)
    for row in db.execute(f"SELECT alert_id, {columns} FROM alerts ORDER BY started_at"):
        alerts += 1
        alert_id = str(row[0])
        stored.add(alert_id)
        expected = trail.alerts.get(alert_id)
        if expected is None:
            problems.append(f"alert {alert_id} is not in the audit trail (no alert.created entry)")
            continue
        for name, value in zip(CHECKED_FIELDS, row[1:], strict=True):
            fixed = expected.fields.get(name)
            if fixed is None or (name == "severity" and alert_id in unchecked_severity):
                continue
            if str(value) != fixed[0]:
                problems.append(
                    f"alert {alert_id}: {name} is {value!r} but the audit trail says"
                    f" {fixed[0]!r} (entry {fixed[1]})"
                )
    for alert_id, expected in trail.alerts.items():
        if alert_id not in stored:
            problems.append(
                f"alert {alert_id}, created in audit entry {expected.created_seq},"
                " is missing from the alerts table"
            )
    return RowReport(alerts, events, legacy, tuple(problems))
