"""Evidence at the centre (real PostgreSQL, real edge API over HTTP): fetched with the edge's
token, checked against the event's SHA-256, retried while the edge is offline, refused when
the digest differs, served by the hub API to the scopes that hold the site."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from hub.config import HubConfig
from hub.config_loader import load_hub_config
from hub.evidence_fetch import EvidenceFetcher
from hub.evidence_store import DirectoryStore
from hub.intake import Event, judge_event
from hub.local_postgres import LocalPostgres
from hub.metrics import HubMetrics
from hub.migrations import migrate
from hub.store import queue_evidence, register_sites, store_event
from hub.web.app import create_hub_app
from sitewatch.demo.rtsp import free_port
from tests.api_site import add_clip
from tests.hub_env import OFFICER_TOKENS, Edge, edge, event_payloads, hub_config, postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalPostgres]:
    with postgres() as pg:
        yield pg


def stored_events(dsn: str, node: Edge) -> None:
    """The edge's events in the hub as MQTT would have brought them."""
    with psycopg.connect(dsn) as db, db.transaction():
        for text in event_payloads(node):
            judged = judge_event(node.site, frozenset({"plant-a", "plant-b"}), text.encode())
            assert isinstance(judged, Event)
            store_event(db, judged, "mqtt")
            queue_evidence(db, judged)


def configure(tmp: Path, dsn: str, api_url: str) -> HubConfig:
    path = hub_config(tmp, dsn, 1883, {"plant-a": api_url, "plant-b": "http://127.0.0.1:9"})
    return load_hub_config(path)


def fetch_all(
    config: HubConfig, dsn: str, store: DirectoryStore, metrics: HubMetrics, at: datetime
) -> int:
    fetcher = EvidenceFetcher(config, store, metrics, clock=lambda: at)
    steps = 0
    try:
        with psycopg.connect(dsn) as db:
            while fetcher.fetch_due(db):
                steps += 1
    finally:
        fetcher.close()
    return steps


def evidence_rows(dsn: str) -> dict[str, tuple[object, ...]]:
    with psycopg.connect(dsn) as db:
        rows = db.execute("SELECT name, fetched_at IS NOT NULL, attempts, last_error FROM evidence")
        return {r[0]: tuple(r[1:]) for r in rows}


def test_evidence_is_fetched_checked_retried_and_served(
    cluster: LocalPostgres, tmp_path: Path
) -> None:
    dsn = cluster.create_database("evidence_ok")
    with psycopg.connect(dsn) as db:
        migrate(db)
        register_sites(db, [("plant-a", "north", "A"), ("plant-b", "north", "B")])
    store = DirectoryStore(tmp_path / "store")
    metrics = HubMetrics()
    with edge(tmp_path, "plant-a", None) as node:
        alert_id = node.raise_alert()
        clip = add_clip(node.ledger, node.alerts, node.tmp, alert_id)
        stored_events(dsn, node)
        names = set(evidence_rows(dsn))
        assert "clip.mp4" in names and "snapshot.jpg" in names
        now = datetime.now(UTC)
        offline = configure(tmp_path, dsn, f"http://127.0.0.1:{free_port()}")  # edge unreachable
        fetch_all(offline, dsn, store, metrics, now)
        rows = evidence_rows(dsn)
        assert all(
            not fetched and attempts == 1 and error for fetched, attempts, error in rows.values()
        )
        assert metrics.value("sitewatch_hub_evidence_fetch_failures_total") == len(names)
        online = configure(tmp_path, dsn, node.api_url)
        assert fetch_all(online, dsn, store, metrics, now) == 0  # not due yet: backing off
        fetch_all(online, dsn, store, metrics, now + timedelta(seconds=5))
    rows = evidence_rows(dsn)
    assert all(fetched for fetched, _a, _e in rows.values())
    kept = store.path(f"plant-a/{alert_id}/clip.mp4")
    assert kept is not None and kept.read_bytes() == clip
    app = create_hub_app(online, metrics, lambda: psycopg.connect(dsn), store, dict)
    client = TestClient(app)
    url = f"/api/alerts/{alert_id}/evidence/clip.mp4"
    mine = client.get(url, headers={"Authorization": f"Bearer {OFFICER_TOKENS['plant-a']}"})
    assert mine.status_code == 200 and mine.content == clip
    assert mine.headers["etag"] == f'"{hashlib.sha256(clip).hexdigest()}"'
    other = client.get(url, headers={"Authorization": f"Bearer {OFFICER_TOKENS['plant-b']}"})
    assert other.status_code == 404
    assert client.get(url).status_code == 401


def test_a_file_whose_digest_differs_is_refused(cluster: LocalPostgres, tmp_path: Path) -> None:
    dsn = cluster.create_database("evidence_bad")
    with psycopg.connect(dsn) as db:
        migrate(db)
        register_sites(db, [("plant-a", "north", "A"), ("plant-b", "north", "B")])
    store = DirectoryStore(tmp_path / "store")
    metrics = HubMetrics()
    with edge(tmp_path, "plant-a", None) as node:
        alert_id = node.raise_alert()
        stored_events(dsn, node)
        (node.tmp / "evidence" / alert_id / "snapshot.jpg").write_bytes(b"swapped picture")
        fetch_all(configure(tmp_path, dsn, node.api_url), dsn, store, metrics, datetime.now(UTC))
    rows = evidence_rows(dsn)
    fetched, attempts, error = rows["snapshot.jpg"]
    assert not fetched and attempts == 1 and "differs from the event's" in str(error)
    assert store.path(f"plant-a/{alert_id}/snapshot.jpg") is None
    assert metrics.value("sitewatch_hub_rejected_total", ("reason", "evidence_hash_mismatch")) == 1
    with psycopg.connect(dsn) as db:
        assert db.execute("SELECT reason FROM rejected").fetchall() == [("evidence_hash_mismatch",)]
