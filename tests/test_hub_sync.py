"""Gap detection against each edge's audit trail (a real PostgreSQL, real edge APIs over
HTTP): missed events are fetched, an event stored with another digest is replaced, and a trail
that does not continue the verified chain is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import HubConfig
from hub.config_loader import load_hub_config
from hub.edge_client import EdgeClient
from hub.intake import Event, judge_event
from hub.local_postgres import LocalPostgres
from hub.metrics import HubMetrics
from hub.migrations import migrate
from hub.store import register_sites, store_event
from hub.sync import SiteSync
from tests.hub_env import Edge, edge, event_payloads, hub_config, postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalPostgres]:
    with postgres() as pg:
        yield pg


def setup(
    cluster: LocalPostgres, tmp: Path, node: Edge, name: str, **sync: Any
) -> tuple[HubConfig, str]:
    dsn = cluster.create_database(name)
    path = hub_config(tmp, dsn, 1883, {node.site: node.api_url}, sync={"grace_s": 0, **sync})
    config = load_hub_config(path)
    with psycopg.connect(dsn) as db:
        migrate(db)
        register_sites(db, [(node.site, config.grid_of(node.site), "A")])
    return config, dsn


def sync_once(config: HubConfig, dsn: str, metrics: HubMetrics, **clock: float) -> Any:
    edges = {s.id: EdgeClient(s, 5.0) for s in config.sites}
    now = datetime.now(UTC) + timedelta(seconds=clock.get("later_s", 0.0))
    try:
        with psycopg.connect(dsn) as db:
            return SiteSync(config, metrics, edges, clock=lambda: now).run(
                db, "plant-a", force=True
            )
    finally:
        for client in edges.values():
            client.close()


def hub_events(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as db:
        return dict(db.execute("SELECT event_id, source FROM events").fetchall())


def test_missed_events_are_fetched_from_the_edge(cluster: LocalPostgres, tmp_path: Path) -> None:
    with edge(tmp_path, "plant-a", None) as node:  # nothing reaches the hub over MQTT
        for _ in range(3):
            node.end_alert(node.raise_alert())
        config, dsn = setup(cluster, tmp_path, node, "sync_fill")
        metrics = HubMetrics()
        report = sync_once(config, dsn, metrics)
        assert report is not None and report.error is None
        assert hub_events(dsn) == dict.fromkeys(node.event_ids(), "edge_api")
        head, _at = node.ledger.latest_audit()
        assert report.verified_seq == head.seq
        assert metrics.value("sitewatch_hub_gap_events_filled_total") == 6
        again = sync_once(config, dsn, metrics)
        assert again.filled == 0 and len(hub_events(dsn)) == 6


def test_an_event_missing_only_within_the_grace_period_is_not_fetched_yet(
    cluster: LocalPostgres, tmp_path: Path
) -> None:
    with edge(tmp_path, "plant-a", None) as node:
        node.raise_alert()
        config, dsn = setup(cluster, tmp_path, node, "sync_grace", grace_s=60)
        metrics = HubMetrics()
        first = sync_once(config, dsn, metrics)
        assert first.missing == 1 and first.filled == 0 and hub_events(dsn) == {}
        later = sync_once(config, dsn, metrics, later_s=61)
        assert later.filled == 1


def test_an_event_stored_with_another_digest_is_replaced_by_the_edges(
    cluster: LocalPostgres, tmp_path: Path
) -> None:
    with edge(tmp_path, "plant-a", None) as node:
        node.raise_alert()
        config, dsn = setup(cluster, tmp_path, node, "sync_tamper")
        (text,) = event_payloads(node)
        tampered = json.loads(text)
        tampered["after"]["severity"] = (
            "critical" if tampered["after"]["severity"] == "warning" else "warning"
        )
        judged = judge_event("plant-a", frozenset({"plant-a"}), json.dumps(tampered).encode())
        assert isinstance(judged, Event)
        with psycopg.connect(dsn) as db, db.transaction():
            store_event(db, judged, "mqtt")
        metrics = HubMetrics()
        sync_once(config, dsn, metrics)
        with psycopg.connect(dsn) as db:
            stored = db.execute("SELECT payload_sha256, source FROM events").fetchall()
            reasons = [r[0] for r in db.execute("SELECT reason FROM rejected")]
    assert stored == [(judge_sha(text), "edge_api")]
    assert reasons == ["hash_mismatch"]
    assert metrics.value("sitewatch_hub_rejected_total", ("reason", "hash_mismatch")) == 1


def judge_sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_a_trail_that_does_not_continue_the_verified_chain_is_refused(
    cluster: LocalPostgres, tmp_path: Path
) -> None:
    with edge(tmp_path / "one", "plant-a", None) as node:
        node.raise_alert()
        config, dsn = setup(cluster, tmp_path, node, "sync_chain")
        metrics = HubMetrics()
        verified = sync_once(config, dsn, metrics).verified_seq
    # The same site answers with another trail (a rebuilt ledger): it does not link.
    with edge(tmp_path / "two", "plant-a", None) as other:
        other.raise_alert()
        other.raise_alert()
        path = hub_config(tmp_path, dsn, 1883, {"plant-a": other.api_url}, sync={"grace_s": 0})
        report = sync_once(load_hub_config(path), dsn, metrics)
    assert report.error is not None and "audit chain broken" in report.error
    assert report.verified_seq == verified
    with psycopg.connect(dsn) as db:
        row = db.execute("SELECT verified_seq, chain_broken FROM site_sync").fetchone()
    assert row is not None and row[0] == verified and "does not link" in row[1]
    assert metrics.value("sitewatch_hub_rejected_total", ("reason", "audit_chain_broken")) == 1
