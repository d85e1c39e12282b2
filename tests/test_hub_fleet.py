"""The fleet end to end, all real: two mosquitto brokers (an edge broker bridged to the central
one), PostgreSQL, edges publishing contract events and serving their API, and `sitewatch hub`
processes sharing one MQTT 5 shared subscription. Nothing is lost or stored twice through a
kill -9 of one hub, a PostgreSQL restart or a cut uplink; bad input is counted, not stored."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
import pytest

from bench.tcp_relay import TcpRelay, tcp_relay
from hub.local_postgres import LocalPostgres
from tests.hub_env import (
    PREFIX,
    Edge,
    bridge_lines,
    broker,
    count_rows,
    edge,
    event_payloads,
    hub_config,
    hub_process,
    postgres,
    published,
    wait_until,
)
from tests.servers import BrokerInfo

pytestmark = pytest.mark.integration


@dataclass
class Fleet:
    """Two edges (plant-a straight to the central broker, plant-b behind a bridged broker)."""

    central: BrokerInfo
    local: BrokerInfo
    pg: LocalPostgres
    dsn: str
    config: Path
    edges: list[Edge]
    uplink: TcpRelay  # plant-b's bridge reaches the central broker through it

    def expected(self) -> set[str]:
        return set().union(*(e.event_ids() for e in self.edges))

    def stored(self) -> set[str]:
        with psycopg.connect(self.dsn) as db:
            return {r[0] for r in db.execute("SELECT event_id FROM events")}


@contextmanager
def fleet(
    tmp: Path, central_port: int | None = None, **sections: dict[str, object]
) -> Iterator[Fleet]:
    with ExitStack() as stack:
        central = stack.enter_context(broker(tmp, "central", port=central_port))
        uplink = stack.enter_context(tcp_relay(central.port))
        local = stack.enter_context(
            broker(tmp, "edge-b", bridge_lines("central", uplink.port, "plant-b"))
        )
        pg = stack.enter_context(postgres())
        dsn = pg.create_database("hub")
        a = stack.enter_context(edge(tmp, "plant-a", central.port))
        b = stack.enter_context(edge(tmp, "plant-b", local.port))
        config = hub_config(
            tmp, dsn, central.port, {"plant-a": a.api_url, "plant-b": b.api_url}, **sections
        )
        yield Fleet(central, local, pg, dsn, config, [a, b], uplink)


def raise_many(edges: list[Edge], count: int, pause_s: float = 0.01) -> threading.Thread:
    """``count`` incidents (start and end) on each edge, in a background thread."""

    def work() -> None:
        stop = threading.Event()
        for _ in range(count):
            for node in edges:
                node.end_alert(node.raise_alert())
            stop.wait(pause_s)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_two_hubs_share_the_events_and_a_kill9_of_one_loses_nothing(tmp_path: Path) -> None:
    with (
        fleet(tmp_path) as f,
        hub_process(f.config, "hub-1") as one,
        hub_process(f.config, "hub-2") as two,
    ):
        work = raise_many(f.edges, 80)
        assert wait_until(lambda: len(f.stored()) >= 60, 60), "events did not arrive"
        one.kill9()
        work.join(120)
        expected = f.expected()
        assert len(expected) == 2 * 2 * 80
        assert wait_until(lambda: f.stored() == expected, 90), (
            f"{len(expected - f.stored())} event(s) missing; hub-2 log:\n{two.log()[-3000:]}"
        )
        assert count_rows(f.dsn, "SELECT count(*) FROM events") == len(expected)
        assert count_rows(f.dsn, "SELECT count(*) FROM rejected") == 0
        assert two.metric("sitewatch_hub_events_stored_total") > 0
        # every edge's trail verified to its head: the centre holds each edge's anchor
        for node in f.edges:
            head, _at = node.ledger.latest_audit()
            assert wait_until(partial(reached, f, node, head.seq), 30)


def verified(f: Fleet, node: Edge) -> int:
    """How far the hub verified an edge's trail."""
    return count_rows(f.dsn, "SELECT verified_seq FROM site_sync WHERE site_id = %s", node.site)


def reached(f: Fleet, node: Edge, seq: int) -> bool:
    """True once the hub verified the edge's trail up to ``seq``."""
    return verified(f, node) >= seq


def test_postgresql_restarting_under_load_loses_nothing(tmp_path: Path) -> None:
    with (
        fleet(tmp_path, sync={"poll_s": 3600, "check_s": 3600}) as f,
        hub_process(f.config, "hub-1") as hub,
    ):
        work = raise_many(f.edges, 40)
        assert wait_until(lambda: len(f.stored()) >= 20, 60)
        f.pg.stop()
        work.join(120)
        f.pg.start()
        expected = f.expected()
        assert wait_until(lambda: f.stored() == expected, 90), hub.log()[-3000:]
        assert hub.metric("sitewatch_hub_database_errors_total") > 0  # it did see the outage
        with psycopg.connect(f.dsn) as db:
            sources = {r[0] for r in db.execute("SELECT DISTINCT source FROM events")}
        assert sources == {"mqtt"}  # MQTT redelivered all of it (gap sync was kept out of the way)


def test_what_an_edge_publishes_while_the_uplink_is_down_arrives_later(tmp_path: Path) -> None:
    # MQTT alone (the gap sync kept out of the way): the edge broker's bridge queue and the
    # hub's persistent session on the central broker carry what was published during the cut
    with fleet(tmp_path, sync={"poll_s": 3600, "check_s": 3600}) as f:
        plant_b = f.edges[1]
        with hub_process(f.config, "hub-1"):
            plant_b.end_alert(plant_b.raise_alert())
            assert wait_until(lambda: len(f.stored()) == 2, 30)
        # the hub stops; then the uplink goes down (both brokers keep running)
        f.uplink.cut()
        for _ in range(10):
            plant_b.end_alert(plant_b.raise_alert())
        assert wait_until(
            lambda: plant_b.ledger.pending_count() == 0, 30
        )  # taken by the edge broker
        assert len(f.stored()) == 2  # nothing got through the cut
        f.uplink.restore()
        with hub_process(f.config, "hub-1"):
            expected = plant_b.event_ids()
            assert wait_until(lambda: f.stored() >= expected, 60)
        assert len(expected) == 22 and f.stored() == expected | f.edges[0].event_ids()
        assert count_rows(f.dsn, "SELECT count(*) FROM events WHERE source <> 'mqtt'") == 0


def test_what_an_edge_publishes_while_the_central_broker_restarts_arrives_later(
    tmp_path: Path,
) -> None:
    # mosquitto (2.0) restores a stopped hub's persistent session but not its *shared*
    # subscription: until the hub subscribes again, the events the bridge hands over are
    # acknowledged "no matching subscribers" and dropped. The gap sync fetches those from the
    # edge's API; by MQTT or by the API, each arrives, once.
    with fleet(tmp_path) as f:
        plant_b = f.edges[1]
        with hub_process(f.config, "hub-1"):
            plant_b.end_alert(plant_b.raise_alert())
            assert wait_until(lambda: len(f.stored()) == 2, 30)
        # the hub stops; then the central broker goes away (graceful: it saves the sessions)
        central_port = f.central.port
        os.kill(f.central.pid, signal.SIGTERM)
        assert wait_until(lambda: not _alive(f.central.pid), 10)
        for _ in range(10):
            plant_b.end_alert(plant_b.raise_alert())
        assert wait_until(
            lambda: plant_b.ledger.pending_count() == 0, 30
        )  # taken by the edge broker
        with broker(tmp_path, "central", port=central_port), hub_process(f.config, "hub-1") as hub:
            expected = plant_b.event_ids()
            assert wait_until(lambda: f.stored() >= expected, 60), hub.log()[-3000:]
        assert len(expected) == 22 and f.stored() == expected | f.edges[0].event_ids()
        assert count_rows(f.dsn, "SELECT count(*) FROM events") == len(f.stored())
        assert count_rows(f.dsn, "SELECT count(*) FROM rejected") == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def test_bad_input_is_counted_and_never_stored(tmp_path: Path) -> None:
    with fleet(tmp_path) as f, hub_process(f.config, "hub-1") as hub:
        plant_a = f.edges[0]
        plant_a_alert = plant_a.raise_alert()
        assert wait_until(lambda: len(f.stored()) == 1, 30)
        (valid,) = event_payloads(plant_a)
        other_alert = json.loads(valid)
        other_alert["event_id"] = "01JDW7Q5M2Z7X3V9K8T4R6N1PB"
        schema_fail = {**json.loads(valid), "type": "exploded"}
        bad: list[tuple[str, str | bytes]] = [
            (f"{PREFIX}/plant-a/alerts", b"{not json"),
            (f"{PREFIX}/plant-a/alerts", json.dumps(schema_fail)),
            (f"{PREFIX}/plant-z/alerts", json.dumps(other_alert)),  # unknown site
            (f"{PREFIX}/plant-b/alerts", json.dumps(other_alert)),  # plant-a's event as plant-b
        ]
        for topic, payload in bad:
            published(f.central.port, topic, payload)
        assert wait_until(lambda: hub.metric("sitewatch_hub_rejected_total") >= 4, 30)
        plant_a.end_alert(plant_a_alert)  # the hub goes on storing
        assert wait_until(lambda: len(f.stored()) == 2, 30)
        with psycopg.connect(f.dsn) as db:
            reasons = sorted(r[0] for r in db.execute("SELECT reason FROM rejected"))
        assert reasons == ["not_json", "schema", "site_mismatch", "unknown_site"]
        assert f.stored() == plant_a.event_ids()
        metrics = hub.get("/metrics").text
        assert 'sitewatch_hub_rejected_total{reason="site_mismatch"} 1' in metrics
        assert hub.proc.poll() is None
