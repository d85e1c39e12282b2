"""Fleet hub figures (no assertions): N real edges (ledger, alert service, MQTT publisher,
HTTP API serving evidence and the audit trail) raise R alerts per minute each into the central
mosquitto; one and then two ``sitewatch hub`` processes store them in PostgreSQL.

Printed per run: events sent, PostgreSQL rows (= events sent when nothing was lost or doubled),
events lost (sent by an edge, not in PostgreSQL at the end), duplicated rows, MQTT
redeliveries the hubs dropped as duplicates, events filled from the edges' API (gaps),
events/s stored, publish -> stored latency p50/p95 (the event's created_at to the row's
received_at, both on this machine's clock), evidence files fetched and their rate.

    python -m bench.fleet --edges 10 50 --rate 10 --seconds 60 --hubs 1 2
    python -m bench.fleet --edges 10 --hubs 2 --fault kill-hub restart-postgres cut-bridge

Faults (mid-run): ``kill-hub`` kill -9 of one of two hubs; ``restart-postgres`` PostgreSQL
stopped for 10 s and started again; ``cut-bridge`` every fifth edge publishes to a local
mosquitto bridged to the central one through a TCP relay that is cut for ``--cut-s``
(120 s; the run lasts at least that + 30 s). After the load stops the bench waits until
every sent event is stored (at most ``--settle-s``) and counts what is not.

Every edge runs in this process (threads), so large N measures this 2-core box more than
the hub; docs/scaling.md says how the figures extrapolate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psycopg

from bench.tcp_relay import TcpRelay
from hub.local_postgres import LocalPostgres
from tests.hub_env import (
    HubProcess,
    bridge_lines,
    broker,
    edge,
    hub_config,
    hub_process,
    postgres,
    wait_until,
)

FAULTS = ("none", "kill-hub", "restart-postgres", "cut-bridge")


def run_once(
    edges: int,
    rate_per_min: float,
    seconds: float,
    hubs: int,
    tmp: Path,
    fault: str = "none",
    cut_s: float = 120.0,
    settle_s: float = 300.0,
) -> dict[str, float]:
    """One run (with ``fault`` injected mid-run); returns its figures."""
    if fault == "kill-hub" and hubs < 2:
        raise SystemExit("--fault kill-hub needs --hubs 2")
    if fault == "cut-bridge":
        seconds = max(seconds, cut_s + 30.0)
    with ExitStack() as stack:
        central = stack.enter_context(broker(tmp, "central"))
        pg = stack.enter_context(postgres())
        dsn = pg.create_database("hub")
        sites = [f"site-{i:03d}" for i in range(edges)]
        bridged = set(sites[::5]) if fault == "cut-bridge" else set()
        relay = TcpRelay(central.port) if bridged else None
        local_port = None
        if relay is not None:
            lines = "".join(bridge_lines(f"up-{s}", relay.port, s) for s in sorted(bridged))
            local_port = stack.enter_context(broker(tmp, "edge-broker", lines)).port
        nodes = [
            stack.enter_context(edge(tmp, s, local_port if s in bridged else central.port))
            for s in sites
        ]
        config = hub_config(
            tmp, dsn, central.port, {n.site: n.api_url for n in nodes}, sync={"grace_s": 30.0}
        )
        running = [
            stack.enter_context(hub_process(config, f"hub-{index + 1}")) for index in range(hubs)
        ]
        inject = _fault(fault, seconds, cut_s, running, pg, relay)
        stop = threading.Event()
        interval = 60.0 / rate_per_min

        def work(node_index: int) -> None:
            node = nodes[node_index]
            stop.wait(interval * node_index / max(edges, 1))  # spread the edges over the interval
            while not stop.is_set():
                node.end_alert(node.raise_alert())
                stop.wait(interval)

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(edges)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        injector = threading.Thread(target=inject, args=(stop,), daemon=True)
        injector.start()
        stop.wait(seconds)
        stop.set()
        injector.join(60)
        for thread in threads:
            thread.join(10)
        sent = sum(len(n.event_ids()) for n in nodes)

        def rows() -> int:
            with psycopg.connect(dsn) as db:
                found = db.execute("SELECT count(*) FROM events").fetchone()
            return int(found[0]) if found else 0

        wait_until(lambda: rows() >= sent, settle_s, 0.5)
        elapsed = time.monotonic() - started
        expected = set().union(*(n.event_ids() for n in nodes))
        wait_until(lambda: _pending_evidence(dsn) == 0, 60, 0.5)
        with psycopg.connect(dsn) as db:
            latencies = [
                float(r[0])
                for r in db.execute(
                    "SELECT extract(epoch FROM received_at - created_at) * 1000 FROM events"
                    " WHERE source = 'mqtt'"
                )
            ]
            fetched_row = db.execute(
                "SELECT count(*), extract(epoch FROM max(fetched_at) - min(fetched_at))"
                " FROM evidence WHERE fetched_at IS NOT NULL"
            ).fetchone()
            duplicates_row = db.execute(
                "SELECT count(*) - count(DISTINCT event_id) FROM events"
            ).fetchone()
            stored = {r[0] for r in db.execute("SELECT event_id FROM events")}
            filled_row = db.execute(
                "SELECT count(*) FROM events WHERE source = 'edge_api'"
            ).fetchone()
        alive = [h for h in running if h.proc.poll() is None]
        redelivered = sum(h.metric("sitewatch_hub_events_duplicate_total") for h in alive)
        fetched = int(fetched_row[0]) if fetched_row else 0
        span = float(fetched_row[1] or 0.0) if fetched_row else 0.0
        quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 20 else [0.0] * 19
        return {
            "edges": edges,
            "hubs": hubs,
            "sent": sent,
            "rows": rows(),
            "lost": len(expected - stored),
            "duplicates": int(duplicates_row[0]) if duplicates_row else 0,
            "redelivered": redelivered,
            "filled": int(filled_row[0]) if filled_row else 0,
            "events_per_s": sent / elapsed,
            "p50_ms": statistics.median(latencies) if latencies else 0.0,
            "p95_ms": quantiles[18],
            "evidence": fetched,
            "evidence_per_s": fetched / span if span > 0 else 0.0,
        }


def _fault(
    fault: str,
    seconds: float,
    cut_s: float,
    hubs: list[HubProcess],
    pg: LocalPostgres,
    relay: TcpRelay | None,
) -> Callable[[threading.Event], None]:
    """What the injector thread does while the edges publish."""

    def inject(stop: threading.Event) -> None:
        if fault == "kill-hub":
            stop.wait(seconds / 2)
            hubs[0].kill9()
            print(f"  kill -9 of hub-1 at {seconds / 2:.0f} s", flush=True)
        elif fault == "restart-postgres":
            stop.wait(seconds / 2)
            pg.stop()
            time.sleep(10)
            pg.start()
            print(f"  PostgreSQL stopped at {seconds / 2:.0f} s for 10 s", flush=True)
        elif fault == "cut-bridge" and relay is not None:
            time.sleep(10)
            relay.cut()
            time.sleep(cut_s)
            relay.restore()
            print(f"  bridge cut from 10 s for {cut_s:.0f} s", flush=True)

    return inject


def _pending_evidence(dsn: str) -> int:
    with psycopg.connect(dsn) as db:
        row = db.execute("SELECT count(*) FROM evidence WHERE fetched_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    """Parse arguments, run each (fault, edges, hubs) combination, print a table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--edges", type=int, nargs="+", default=[10])
    parser.add_argument("--rate", type=float, default=10.0, help="alerts per minute per edge")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--hubs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fault", choices=FAULTS, nargs="+", default=["none"])
    parser.add_argument("--cut-s", type=float, default=120.0, help="cut-bridge: how long")
    parser.add_argument("--settle-s", type=float, default=300.0, help="wait for stragglers")
    args = parser.parse_args()
    header = (
        f"{'fault':<16} {'edges':>5} {'hubs':>4} {'sent':>6} {'rows':>6} {'lost':>4}"
        f" {'dup':>4} {'redel':>5} {'filled':>6} {'ev/s':>7} {'p50 ms':>7} {'p95 ms':>8}"
        f" {'files':>6} {'files/s':>7}"
    )
    print(header, flush=True)
    for fault in args.fault:
        for edges in args.edges:
            for hubs in args.hubs:
                with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
                    f = run_once(
                        edges,
                        args.rate,
                        args.seconds,
                        hubs,
                        Path(folder),
                        fault,
                        args.cut_s,
                        args.settle_s,
                    )
                print(
                    f"{fault:<16} {f['edges']:>5.0f} {f['hubs']:>4.0f} {f['sent']:>6.0f}"
                    f" {f['rows']:>6.0f} {f['lost']:>4.0f} {f['duplicates']:>4.0f}"
                    f" {f['redelivered']:>5.0f} {f['filled']:>6.0f} {f['events_per_s']:>7.2f}"
                    f" {f['p50_ms']:>7.1f} {f['p95_ms']:>8.1f} {f['evidence']:>6.0f}"
                    f" {f['evidence_per_s']:>7.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
