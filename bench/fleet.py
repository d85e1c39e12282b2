"""Fleet hub figures (no assertions): N real edges (ledger, alert service, MQTT publisher,
HTTP API serving evidence and the audit trail) raise R alerts per minute each into the central
mosquitto; one and then two ``sitewatch hub`` processes store them in PostgreSQL.

Printed per run: events sent, PostgreSQL rows (= events sent when nothing was lost or doubled),
events/s stored, publish -> stored latency p50/p95 (the event's created_at to the row's
received_at, both on this machine's clock), evidence files fetched and their rate.

    python -m bench.fleet --edges 10 --rate 10 --seconds 60 --hubs 1 2

Every edge runs in this process (threads), so large N measures this 2-core box more than
the hub; docs/scaling.md says how the figures extrapolate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg

from tests.hub_env import broker, edge, hub_config, hub_process, postgres, wait_until


def run_once(
    edges: int, rate_per_min: float, seconds: float, hubs: int, tmp: Path
) -> dict[str, float]:
    """One run; returns its figures."""
    with ExitStack() as stack:
        central = stack.enter_context(broker(tmp, "central"))
        pg = stack.enter_context(postgres())
        dsn = pg.create_database("hub")
        nodes = [
            stack.enter_context(edge(tmp, f"site-{i:03d}", central.port)) for i in range(edges)
        ]
        config = hub_config(
            tmp, dsn, central.port, {n.site: n.api_url for n in nodes}, sync={"grace_s": 30.0}
        )
        for index in range(hubs):
            stack.enter_context(hub_process(config, f"hub-{index + 1}"))
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
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join(10)
        sent = sum(len(n.event_ids()) for n in nodes)

        def rows() -> int:
            with psycopg.connect(dsn) as db:
                found = db.execute("SELECT count(*) FROM events").fetchone()
            return int(found[0]) if found else 0

        wait_until(lambda: rows() >= sent, 120, 0.5)
        elapsed = time.monotonic() - started
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
        fetched = int(fetched_row[0]) if fetched_row else 0
        span = float(fetched_row[1] or 0.0) if fetched_row else 0.0
        quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 20 else [0.0] * 19
        return {
            "edges": edges,
            "hubs": hubs,
            "sent": sent,
            "rows": rows(),
            "duplicates": int(duplicates_row[0]) if duplicates_row else 0,
            "events_per_s": sent / elapsed,
            "p50_ms": statistics.median(latencies) if latencies else 0.0,
            "p95_ms": quantiles[18],
            "evidence": fetched,
            "evidence_per_s": fetched / span if span > 0 else 0.0,
        }


def _pending_evidence(dsn: str) -> int:
    with psycopg.connect(dsn) as db:
        row = db.execute("SELECT count(*) FROM evidence WHERE fetched_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    """Parse arguments, run each (edges, hubs) combination, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, nargs="+", default=[10])
    parser.add_argument("--rate", type=float, default=10.0, help="alerts per minute per edge")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--hubs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    header = (
        f"{'edges':>5} {'hubs':>4} {'sent':>6} {'rows':>6} {'dup':>4} {'ev/s':>7}"
        f" {'p50 ms':>7} {'p95 ms':>7} {'files':>6} {'files/s':>7}"
    )
    print(header)
    for edges in args.edges:
        for hubs in args.hubs:
            with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
                f = run_once(edges, args.rate, args.seconds, hubs, Path(folder))
            print(
                f"{f['edges']:>5.0f} {f['hubs']:>4.0f} {f['sent']:>6.0f} {f['rows']:>6.0f}"
                f" {f['duplicates']:>4.0f} {f['events_per_s']:>7.2f} {f['p50_ms']:>7.1f}"
                f" {f['p95_ms']:>7.1f} {f['evidence']:>6.0f} {f['evidence_per_s']:>7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
