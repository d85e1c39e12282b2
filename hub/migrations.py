"""The hub's PostgreSQL schema as numbered migrations, applied in order at start under an
advisory lock (several hub processes may start at once); ``hub_schema`` records each one."""

from __future__ import annotations

import logging

import psycopg

from core.errors import SitewatchError

log = logging.getLogger(__name__)
MIGRATION_LOCK = 0x5157_0001  # pg_advisory_xact_lock key: one migrator at a time

MIGRATIONS: tuple[str, ...] = (
    # 1: events by event_id (idempotent intake), alerts as the edges report them, what was
    # refused, and per-site sync state against each edge's audit trail (gap detection).
    """
    CREATE TABLE sites (
        site_id text PRIMARY KEY,
        grid_id text NOT NULL,
        name text NOT NULL
    );
    CREATE TABLE events (
        event_id text PRIMARY KEY,
        site_id text NOT NULL REFERENCES sites (site_id),
        alert_id text NOT NULL,
        type text NOT NULL,
        created_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        audit_seq bigint,
        payload jsonb NOT NULL,
        payload_sha256 text NOT NULL,
        source text NOT NULL CHECK (source IN ('mqtt', 'edge_api'))
    );
    CREATE INDEX events_by_alert ON events (alert_id, created_at, event_id);
    CREATE INDEX events_by_site ON events (site_id, created_at);
    CREATE TABLE alerts (
        alert_id text PRIMARY KEY,
        site_id text NOT NULL REFERENCES sites (site_id),
        camera text NOT NULL,
        zone text NOT NULL,
        hazard text NOT NULL,
        severity text NOT NULL,
        active boolean NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        workflow_state text NOT NULL,
        owner text,
        deadline timestamptz,
        document jsonb NOT NULL,
        last_event_id text NOT NULL,
        last_event_at timestamptz NOT NULL
    );
    CREATE INDEX alerts_by_site ON alerts (site_id, started_at DESC);
    CREATE INDEX alerts_by_state ON alerts (workflow_state, deadline);
    CREATE TABLE rejected (
        id bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        site_id text,
        topic text NOT NULL,
        reason text NOT NULL,
        detail text NOT NULL,
        payload_sha256 text
    );
    CREATE TABLE site_sync (
        site_id text PRIMARY KEY REFERENCES sites (site_id),
        verified_seq bigint NOT NULL DEFAULT 0,
        verified_hash text NOT NULL DEFAULT repeat('0', 64),
        head_seq bigint NOT NULL DEFAULT 0,
        head_seen_at timestamptz,
        checked_at timestamptz,
        polled_at timestamptz,
        last_error text,
        chain_broken text
    );
    CREATE TABLE missing_events (
        event_id text PRIMARY KEY,
        site_id text NOT NULL REFERENCES sites (site_id),
        alert_id text NOT NULL,
        audit_seq bigint NOT NULL,
        event_sha256 text NOT NULL,
        first_seen timestamptz NOT NULL DEFAULT now(),
        filled_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        last_error text
    );
    """,
    # 2: evidence fetched from the edges (checked against the event's SHA-256).
    """
    CREATE TABLE evidence (
        alert_id text NOT NULL,
        name text NOT NULL,
        site_id text NOT NULL REFERENCES sites (site_id),
        kind text NOT NULL,
        part integer NOT NULL,
        sha256 text NOT NULL,
        stored_key text,
        bytes bigint,
        fetched_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        next_try timestamptz NOT NULL DEFAULT now(),
        last_error text,
        gone boolean NOT NULL DEFAULT false,
        PRIMARY KEY (alert_id, name)
    );
    CREATE INDEX evidence_due ON evidence (next_try) WHERE fetched_at IS NULL AND NOT gone;
    """,
    # 3: commands to the edges (pending until the edge's state event), the supervised list,
    # escalations and the hub's own hash-chained audit trail.
    """
    CREATE TABLE commands (
        command_id text PRIMARY KEY,
        site_id text NOT NULL REFERENCES sites (site_id),
        alert_id text NOT NULL,
        action text NOT NULL,
        params jsonb NOT NULL,
        actor text NOT NULL,
        expected_state text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        sends integer NOT NULL DEFAULT 0,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'applied', 'rejected')),
        event_id text,
        reason text,
        settled_at timestamptz
    );
    CREATE INDEX commands_pending ON commands (site_id, created_at) WHERE status = 'pending';
    CREATE TABLE supervised (
        alert_id text PRIMARY KEY REFERENCES alerts (alert_id),
        supervisor text NOT NULL,
        deadline timestamptz NOT NULL,
        listed_by text NOT NULL,
        listed_at timestamptz NOT NULL DEFAULT now(),
        note text,
        closed_at timestamptz,
        closed_by text
    );
    CREATE TABLE escalations (
        alert_id text NOT NULL REFERENCES alerts (alert_id),
        level text NOT NULL CHECK (level IN ('supervisor', 'street_office')),
        escalated_to text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (alert_id, level)
    );
    CREATE TABLE hub_audit (
        seq bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        detail text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL
    );
    CREATE FUNCTION hub_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the hub audit trail is append-only'; END $$;
    CREATE TRIGGER hub_audit_no_change BEFORE UPDATE OR DELETE ON hub_audit
        FOR EACH ROW EXECUTE FUNCTION hub_audit_append_only();
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(SitewatchError, RuntimeError):
    """The database was migrated by a newer hub."""


def migrate(db: psycopg.Connection[tuple[object, ...]]) -> int:
    """Apply the missing migrations (each in its own transaction); returns the version."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS hub_schema ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = db.execute("SELECT coalesce(max(version), 0) FROM hub_schema").fetchone()
        version = int(row[0]) if row else 0  # type: ignore[call-overload]
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"the hub database is at schema {version}, newer than this hub ({SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            db.execute(MIGRATIONS[number].encode())
            db.execute("INSERT INTO hub_schema (version) VALUES (%s)", (number + 1,))
            log.info("hub database: applied migration %d", number + 1)
    return SCHEMA_VERSION
