"""The hub's writes and reads of events and alerts in PostgreSQL.

Events are stored once by ``event_id`` (``ON CONFLICT DO NOTHING``): MQTT delivers at least
once and gap filling may bring an event again. The alert row is the edge's latest word: an
event updates it only when it is newer (created_at, then event_id: ULIDs sort by time)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from hub.intake import Event, Rejected, Rejection, parse_time

Db = psycopg.Connection[tuple[Any, ...]]


class Outcome(StrEnum):
    """What storing an event did."""

    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """One evidence file an event lists (name: the file name at the edge)."""

    alert_id: str
    name: str
    kind: str
    part: int
    sha256: str


def register_sites(db: Db, sites: list[tuple[str, str, str]]) -> None:
    """(site_id, grid_id, name) from hub.yaml: the rows events refer to."""
    with db.transaction():
        for site_id, grid_id, name in sites:
            db.execute(
                "INSERT INTO sites (site_id, grid_id, name) VALUES (%s, %s, %s)"
                " ON CONFLICT (site_id) DO UPDATE SET grid_id = excluded.grid_id,"
                " name = excluded.name",
                (site_id, grid_id, name),
            )
            db.execute(
                "INSERT INTO site_sync (site_id) VALUES (%s) ON CONFLICT DO NOTHING", (site_id,)
            )


def store_event(db: Db, event: Event, source: str) -> Outcome | Rejected:
    """Store one valid event and bring its alert up to date (inside the caller's
    transaction). A known event_id with other content, or an alert id another site owns, is
    refused and nothing is written."""
    owner = db.execute("SELECT site_id FROM alerts WHERE alert_id = %s", (event.alert_id,))
    row = owner.fetchone()
    if row is not None and row[0] != event.site:
        return Rejected(
            Rejection.ALERT_OF_OTHER_SITE,
            f"alert {event.alert_id} belongs to site '{row[0]}', not '{event.site}'",
            event.site,
        )
    inserted = db.execute(
        "INSERT INTO events (event_id, site_id, alert_id, type, created_at, audit_seq, payload,"
        " payload_sha256, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        (
            event.event_id,
            event.site,
            event.alert_id,
            event.document["type"],
            event.created_at,
            event.audit_seq,
            Jsonb(event.document),
            event.sha256,
            source,
        ),
    ).fetchone()
    if inserted is None:
        known = db.execute(
            "SELECT payload_sha256, site_id FROM events WHERE event_id = %s", (event.event_id,)
        ).fetchone()
        if known is not None and (known[0] != event.sha256 or known[1] != event.site):
            return Rejected(
                Rejection.CONFLICT,
                f"event {event.event_id} was stored before with other content; kept the first",
                event.site,
            )
        return Outcome.DUPLICATE
    _project_alert(db, event)
    if event.audit_seq is not None:
        note_head(db, event.site, event.audit_seq)
    return Outcome.STORED


def note_head(db: Db, site: str, seq: int) -> None:
    """The edge's trail reached ``seq`` (from an event's audit_head or the retained head)."""
    db.execute(
        "UPDATE site_sync SET head_seq = %s, head_seen_at = now()"
        " WHERE site_id = %s AND head_seq < %s",
        (seq, site, seq),
    )


def record_rejection(db: Db, topic: str, rejected: Rejected, sha256: str | None) -> None:
    """Keep what was refused and why (not as truth: a separate table)."""
    db.execute(
        "INSERT INTO rejected (site_id, topic, reason, detail, payload_sha256)"
        " VALUES (%s, %s, %s, %s, %s)",
        (rejected.site, topic[:300], rejected.reason.value, rejected.detail[:1000], sha256),
    )


def evidence_refs(event: Event) -> list[EvidenceRef]:
    """The evidence files an event lists that are still kept at the edge."""
    refs = []
    for item in event.document["after"].get("evidence") or []:
        url = item.get("url")
        if url is None:
            continue
        name = str(url).rsplit("/", 1)[-1]
        refs.append(
            EvidenceRef(event.alert_id, name, item["kind"], int(item["part"]), item["sha256"])
        )
    return refs


def _project_alert(db: Db, event: Event) -> None:
    after = event.document["after"]
    case = event.document.get("case") or {}
    db.execute(
        """
        INSERT INTO alerts (alert_id, site_id, camera, zone, hazard, severity, active,
            started_at, ended_at, workflow_state, owner, deadline, document, last_event_id,
            last_event_at)
        VALUES (%(alert_id)s, %(site)s, %(camera)s, %(zone)s, %(hazard)s, %(severity)s,
            %(active)s, %(started_at)s, %(ended_at)s, %(state)s, %(owner)s, %(deadline)s,
            %(document)s, %(event_id)s, %(event_at)s)
        ON CONFLICT (alert_id) DO UPDATE SET camera = excluded.camera, zone = excluded.zone,
            hazard = excluded.hazard, severity = excluded.severity, active = excluded.active,
            started_at = excluded.started_at, ended_at = excluded.ended_at,
            workflow_state = excluded.workflow_state,
            owner = CASE WHEN %(has_case)s THEN excluded.owner ELSE alerts.owner END,
            deadline = CASE WHEN %(has_case)s THEN excluded.deadline ELSE alerts.deadline END,
            document = excluded.document, last_event_id = excluded.last_event_id,
            last_event_at = excluded.last_event_at
        WHERE (alerts.last_event_at, alerts.last_event_id)
            <= (excluded.last_event_at, excluded.last_event_id)
        """,
        {
            "alert_id": event.alert_id,
            "site": event.site,
            "camera": after["camera"],
            "zone": after["zone"],
            "hazard": after["hazard"],
            "severity": after["severity"],
            "active": after["active"],
            "started_at": parse_time(after["started_at"]),
            "ended_at": None if after["ended_at"] is None else parse_time(after["ended_at"]),
            "state": after["workflow_state"],
            "owner": case.get("owner"),
            "deadline": None if not case.get("deadline") else parse_time(case["deadline"]),
            "has_case": bool(case),
            "document": Jsonb(after),
            "event_id": event.event_id,
            "event_at": event.created_at,
        },
    )


def queue_evidence(db: Db, event: Event) -> int:
    """Evidence rows (to fetch) for the files an event lists; returns how many were new."""
    added = 0
    for ref in evidence_refs(event):
        row = db.execute(
            "INSERT INTO evidence (alert_id, name, site_id, kind, part, sha256)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (alert_id, name) DO NOTHING"
            " RETURNING name",
            (ref.alert_id, ref.name, event.site, ref.kind, ref.part, ref.sha256),
        ).fetchone()
        added += row is not None
    return added
