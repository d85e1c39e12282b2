"""HTTP API figures: alert-list latency on a large ledger, SSE fan-out, clip Range throughput.

The API runs as it ships (uvicorn, one process) in a child process, so the clients measured
here do not share its GIL. Phases:

- list: a ledger seeded with N alerts (default 100,000; bulk-inserted rows of the real schema,
  two snapshot rows and one event each, 10 cameras, 3 hazards, 7 workflow states over a year);
  latency of ``GET /api/alerts`` (limit 100) unfiltered, by camera, by hazard and state, by a
  one-week window, and 50 pages deep with the cursor. Goal: p95 <= 50 ms.
- sse: C clients (default 50) on ``/api/events``; this process stores E new alerts through
  ``AlertService`` (the real write path) at ~20/s; the time from before ``handle()`` to each
  client's receipt, and whether every client got every event.
- clip: a 64 MB file as an alert's clip; full GETs (MB/s), sequential 1 MiB ranges (MB/s) and
  random 64 KiB ranges (requests/s).

Run: .venv/bin/python -m bench.api [--alerts 100000] [--clients 50] [--events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from alerts.clip_recorder import ClipReady
from alerts.contract import Topics, event_payload
from alerts.ledger import Ledger
from alerts.model import Alert, AlertChange, EventType, Evidence, EvidenceKind
from alerts.service import AlertService, new_ulid
from bench.proc import percentile, pid_cpu_s
from core.vocabulary import CaseState, Hazard, Severity
from detect.observations import Observation, Phase
from sitewatch.api.context import ApiDependencies
from sitewatch.demo.rtsp import free_port, stop_process, wait_for_port

TOKEN = "bench-admin-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
TOPICS = Topics("sitewatch", "bench")
CAMERAS = [f"cam-{i:02d}" for i in range(10)]
STATES = [state.value for state in CaseState]
YEAR_S = 365 * 86_400.0
NOW = 1_800_000_000.0


def seed(ledger: Ledger, count: int, rng: random.Random) -> None:
    """``count`` ended alerts with two snapshot rows and one event each (bulk, one transaction
    per 10,000)."""
    hazards = list(Hazard)
    for start in range(0, count, 10_000):
        alerts, evidence, events = [], [], []
        for _ in range(min(10_000, count - start)):
            alert_id = new_ulid()
            started = NOW - rng.random() * YEAR_S
            alert = Alert(
                alert_id,
                rng.choice(CAMERAS),
                f"zone-{rng.randrange(4)}",
                rng.choice(hazards),
                rng.choice(list(Severity)),
                0.8,
                0.9,
                started,
                started + 60,
                started + 60,
                CaseState(rng.choice(STATES)),
                (
                    Evidence(f"evidence/{alert_id}/snapshot.jpg", "ab" * 32),
                    Evidence(
                        f"evidence/{alert_id}/snapshot-annotated.jpg",
                        "cd" * 32,
                        EvidenceKind.SNAPSHOT_ANNOTATED,
                    ),
                ),
                {"blocked_fraction": 0.4},
            )
            alerts.append(alert)
            evidence += [
                (alert_id, e.kind.value, e.path, e.sha256, started) for e in alert.evidence
            ]
            event_id = new_ulid()
            payload = event_payload(
                event_id, AlertChange(EventType.NEW, None, alert), "bench", started, "http://h"
            )
            events.append((event_id, alert_id, started, payload))
        with ledger.transaction() as db:
            db.executemany(
                "INSERT INTO alerts (alert_id, camera, zone, hazard, severity, score, peak_score,"
                " started_at, updated_at, ended_at, workflow_state, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (a.alert_id, a.camera, a.zone, a.hazard, a.severity, a.score, a.peak_score,
                     a.started_at, a.updated_at, a.ended_at, a.workflow_state,
                     json.dumps(a.details))
                    for a in alerts
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO evidence (alert_id, kind, path, sha256, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                evidence,
            )
            db.executemany(
                "INSERT INTO events (event_id, alert_id, type, created_at, payload)"
                " VALUES (?, ?, 'new', ?, ?)",
                events,
            )


def serve(data_dir: Path, port: int) -> None:
    """Child process: the API over ``data_dir`` (run by ``--serve``)."""
    import uvicorn

    from ingest.status import CameraState, CameraStatus
    from sitewatch.api import create_app

    ledger = Ledger(data_dir / "ledger.sqlite3")
    cameras = [CameraStatus(c, CameraState.ONLINE, NOW) for c in CAMERAS]
    app = create_app(
        ApiDependencies.of_ledger(
            ledger,
            data_dir,
            TOPICS,
            f"http://127.0.0.1:{port}",
            cameras=lambda: cameras,
            tokens={TOKEN: ("bench", "admin")},
        )
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def api_process(data_dir: Path) -> Iterator[tuple[str, int]]:
    """The API in a child process; yields (base URL, pid)."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--serve", str(data_dir), "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        wait_for_port("127.0.0.1", port, 30.0)
        yield f"http://127.0.0.1:{port}", child.pid
    finally:
        stop_process(child)


def timed_gets(client: httpx.Client, urls: Sequence[str]) -> list[float]:
    """Milliseconds per request (each checked for 200)."""
    times = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def cursor_of_page(client: httpx.Client, url: str, pages: int) -> str:
    """The cursor that opens page ``pages`` + 1."""
    cursor = ""
    for _ in range(pages):
        response = client.get(url + (f"&cursor={cursor}" if cursor else ""))
        cursor = response.headers["x-next-cursor"]
    return cursor


def phase_list(base: str, pid: int, requests: int) -> dict[str, Any]:
    """Latency of the alert list, by query."""
    week = 7 * 86_400
    window_from = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 20 * week))
    window_to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 19 * week))
    queries = {
        "newest": "/api/alerts?limit=100",
        "camera": "/api/alerts?limit=100&camera=cam-03",
        "hazard+state": "/api/alerts?limit=100&hazard=flame&state=escalated",
        "one week": f"/api/alerts?limit=100&since={window_from}&until={window_to}",
    }
    figures: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as client:
        timed_gets(client, [queries["newest"]] * 20)  # warm-up
        queries["page 51"] = "/api/alerts?limit=100&cursor=" + cursor_of_page(
            client, queries["newest"], 50
        )
        for name, url in queries.items():
            cpu = pid_cpu_s(pid)
            times = timed_gets(client, [url] * requests)
            figures[name] = {
                "p50_ms": round(percentile(times, 50), 1),
                "p95_ms": round(percentile(times, 95), 1),
                "p99_ms": round(percentile(times, 99), 1),
                "server_cpu_ms_per_request": round((pid_cpu_s(pid) - cpu) * 1000 / requests, 1),
                "items": len(client.get(url).json()),
            }
    return figures


async def _listen(
    base: str, expected: set[str], received: dict[str, float], ready: asyncio.Event
) -> None:
    """One SSE client: arrival time of each expected alert (by zone)."""
    async with (
        httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=60) as client,
        client.stream("GET", "/api/events") as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                ready.set()
            elif line.startswith("data: "):
                zone = json.loads(line[6:])["after"]["zone"]
                if zone in expected:
                    received[zone] = time.time()
                if len(received) == len(expected):
                    return


def phase_sse(base: str, data_dir: Path, clients: int, events: int) -> dict[str, Any]:
    """Fan-out latency of new alerts to ``clients`` SSE clients."""
    ledger = Ledger(data_dir / "ledger.sqlite3")
    service = AlertService(ledger, TOPICS, data_dir, base, {})
    zones = [f"sse-{index}" for index in range(events)]
    expected = set(zones)
    sent: dict[str, float] = {}

    async def run() -> list[dict[str, float]]:
        boxes: list[dict[str, float]] = [{} for _ in range(clients)]
        readies = [asyncio.Event() for _ in range(clients)]
        tasks = [
            asyncio.create_task(_listen(base, expected, boxes[i], readies[i]))
            for i in range(clients)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        for index, zone in enumerate(zones):
            obs = Observation("cam-00", zone, Hazard.FLAME, Phase.START, NOW + index, 0.9)
            sent[zone] = time.time()
            await asyncio.to_thread(service.handle, obs, None)
            await asyncio.sleep(0.05)
        await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()
        return boxes

    boxes = asyncio.run(run())
    ledger.close()
    latencies = [(t - sent[zone]) * 1000 for box in boxes for zone, t in box.items()]
    return {
        "clients": clients,
        "events": events,
        "clients_with_every_event": sum(1 for box in boxes if len(box) == events),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies, default=float("nan")), 1),
    }


def phase_clip(base: str, data_dir: Path, megabytes: int) -> dict[str, Any]:
    """Clip download and Range throughput."""
    ledger = Ledger(data_dir / "ledger.sqlite3")
    service = AlertService(ledger, TOPICS, data_dir, base, {})
    change = service.handle(
        Observation("cam-01", "clip", Hazard.FLAME, Phase.START, NOW, 0.9), None
    )
    assert change is not None
    alert_id = change.after.alert_id
    clip = data_dir / "evidence" / alert_id / "clip.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(0).integers(0, 256, megabytes << 20, dtype=np.uint8).tobytes()
    clip.write_bytes(data)
    evidence = Evidence(f"evidence/{alert_id}/clip.mp4", hashlib.sha256(data).hexdigest())
    service.clip_ready(ClipReady(alert_id, 1, evidence, NOW, NOW + 60, False))
    ledger.close()
    url = f"/api/alerts/{alert_id}/clip"
    size = len(data)
    rng = random.Random(1)
    with httpx.Client(base_url=base, headers=HEADERS, timeout=60) as client:
        started = time.perf_counter()
        for _ in range(3):
            assert len(client.get(url).content) == size
        full_s = (time.perf_counter() - started) / 3
        started = time.perf_counter()
        for offset in range(0, size, 1 << 20):
            part = client.get(url, headers={"Range": f"bytes={offset}-{offset + (1 << 20) - 1}"})
            assert part.status_code == 206
        sequential_s = time.perf_counter() - started
        started = time.perf_counter()
        count = 300
        for _ in range(count):
            offset = rng.randrange(0, size - 65536)
            part = client.get(url, headers={"Range": f"bytes={offset}-{offset + 65535}"})
            assert part.status_code == 206 and len(part.content) == 65536
        random_s = time.perf_counter() - started
    return {
        "clip_mb": megabytes,
        "full_get_mb_s": round(megabytes / full_s, 1),
        "sequential_1mib_ranges_mb_s": round(megabytes / sequential_s, 1),
        "random_64kib_ranges_per_s": round(count / random_s, 1),
    }


def main() -> None:
    """Run the phases and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clip-mb", type=int, default=64)
    parser.add_argument("--phases", nargs="*", default=["list", "sse", "clip"])
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port)
        return
    with tempfile.TemporaryDirectory(prefix="sitewatch-bench-api-") as folder:
        data_dir = Path(folder)
        ledger = Ledger(data_dir / "ledger.sqlite3")
        started = time.perf_counter()
        seed(ledger, args.alerts, random.Random(0))
        ledger.close()
        results: dict[str, Any] = {
            "alerts_in_ledger": args.alerts,
            "seed_s": round(time.perf_counter() - started, 1),
            "cpus": os.cpu_count(),
        }
        with api_process(data_dir) as (base, pid):
            if "list" in args.phases:
                results["list"] = phase_list(base, pid, args.requests)
            if "sse" in args.phases:
                results["sse"] = phase_sse(base, data_dir, args.clients, args.events)
            if "clip" in args.phases:
                results["clip"] = phase_clip(base, data_dir, args.clip_mb)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
