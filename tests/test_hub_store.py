"""The hub's PostgreSQL store (a real cluster): versioned migrations, events stored once by
event_id, conflicting or foreign copies refused, the alert row the edge's latest word."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.intake import Event, Rejected, Rejection, judge_event
from hub.local_postgres import LocalPostgres
from hub.migrations import SCHEMA_VERSION, migrate
from hub.store import Outcome, register_sites, store_event
from tests.hub_env import edge, event_payloads, postgres

pytestmark = pytest.mark.integration
SITES = frozenset({"plant-a", "plant-b"})


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalPostgres]:
    with postgres() as pg:
        yield pg


@pytest.fixture
def db(cluster: LocalPostgres, request: pytest.FixtureRequest) -> Iterator[psycopg.Connection[Any]]:
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    dsn = cluster.create_database(name)
    with psycopg.connect(dsn) as connection:
        migrate(connection)
        register_sites(connection, [("plant-a", "north", "A"), ("plant-b", "north", "B")])
        yield connection


def payloads(tmp_path: Path, site: str = "plant-a") -> list[str]:
    """Real event payloads of an edge: a new alert (with snapshot) and its end."""
    with edge(tmp_path, site, None) as node:
        alert_id = node.raise_alert()
        node.end_alert(alert_id)
        return event_payloads(node)


def event(text: str, site: str = "plant-a") -> Event:
    judged = judge_event(site, SITES, text.encode())
    assert isinstance(judged, Event), judged
    return judged


def test_migrations_are_versioned_and_run_once(db: psycopg.Connection[Any]) -> None:
    assert migrate(db) == SCHEMA_VERSION
    versions = [r[0] for r in db.execute("SELECT version FROM hub_schema ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_an_event_is_stored_once(db: psycopg.Connection[Any], tmp_path: Path) -> None:
    new, _end = payloads(tmp_path)
    with db.transaction():
        assert store_event(db, event(new), "mqtt") is Outcome.STORED
    with db.transaction():
        assert store_event(db, event(new), "mqtt") is Outcome.DUPLICATE
    assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_a_known_event_id_with_other_content_is_refused(
    db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    new, _end = payloads(tmp_path)
    forged = json.loads(new)
    forged["after"]["severity"] = "critical"
    with db.transaction():
        store_event(db, event(new), "mqtt")
        outcome = store_event(db, event(json.dumps(forged)), "mqtt")
    assert isinstance(outcome, Rejected) and outcome.reason is Rejection.CONFLICT
    kept = db.execute("SELECT payload->'after'->>'severity' FROM events").fetchone()
    assert kept == (json.loads(new)["after"]["severity"],)


def test_an_alert_id_of_another_site_is_refused(
    db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    new, end = payloads(tmp_path)
    with db.transaction():
        store_event(db, event(new), "mqtt")
    stolen = json.loads(end)
    for side in ("before", "after"):
        stolen[side]["site"] = "plant-b"
    with db.transaction():
        outcome = store_event(db, event(json.dumps(stolen), "plant-b"), "mqtt")
    assert isinstance(outcome, Rejected) and outcome.reason is Rejection.ALERT_OF_OTHER_SITE
    assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_the_alert_row_is_the_latest_event_whatever_the_arrival_order(
    db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    new, end = payloads(tmp_path)
    with db.transaction():
        store_event(db, event(end), "mqtt")  # the end arrives first (two hubs, a gap fill)
        store_event(db, event(new), "edge_api")
    row = db.execute("SELECT active, ended_at IS NOT NULL, last_event_id FROM alerts").fetchone()
    assert row == (False, True, json.loads(end)["event_id"])
