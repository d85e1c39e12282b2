"""The live event stream (SSE) over a real HTTP server: new alerts and workflow actions arrive,
and a client that reconnects with Last-Event-ID misses nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from alerts.cases import CaseRequest
from alerts.workflow import Action
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from tests.api_site import T0, bearer, make_site, serve


def sse_events(
    lines: Iterator[str], ready: threading.Event | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(id, payload) of each ``alert`` event; ``ready`` is set at the server's ``retry:`` line
    (sent once the stream is subscribed)."""
    event_id, data = None, None
    for line in lines:
        if line.startswith("retry: ") and ready is not None:
            ready.set()
        elif line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and event_id is not None and data is not None:
            yield event_id, data
            event_id, data = None, None


def test_a_new_alert_and_a_case_action_reach_a_connected_client(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    received: list[tuple[int, dict[str, Any]]] = []
    with serve(site.app) as base, httpx.Client(base_url=base, timeout=10) as client:
        connected = threading.Event()

        def produce() -> None:
            assert connected.wait(5)
            site.alerts.handle(
                Observation("yard", "gate", Hazard.MISSING_HARDHAT, Phase.START, T0 + 60, 0.7),
                None,
            )
            site.cases.apply(site.ended_id, CaseRequest(Action.ACKNOWLEDGE, "ops", "operator"))

        producer = threading.Thread(target=produce)
        producer.start()
        started = time.monotonic()
        with client.stream("GET", "/api/events", headers=bearer("viewer")) as response:
            assert response.status_code == 200
            for event in sse_events(response.iter_lines(), connected):
                received.append(event)
                if len(received) == 2:
                    break
        producer.join(5)
    latency = time.monotonic() - started
    (first_id, new), (second_id, state) = received
    assert new["type"] == "new" and new["after"]["camera"] == "yard"
    assert state["type"] == "state" and state["case"]["action"] == "acknowledge"
    assert second_id > first_id and latency < 5


def test_reconnecting_with_last_event_id_replays_what_was_missed(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    positions = [e.position for e in site.ledger.events_after(0)]
    assert len(positions) >= 4  # new, end, new, clip_ready
    with serve(site.app) as base, httpx.Client(base_url=base, timeout=10) as client:
        headers = {**bearer("viewer"), "Last-Event-ID": str(positions[1])}
        with client.stream("GET", "/api/events", headers=headers) as response:
            replayed = []
            for event_id, payload in sse_events(response.iter_lines()):
                replayed.append((event_id, payload["type"]))
                if len(replayed) == len(positions) - 2:
                    break
        bad = client.get("/api/events", headers={**bearer("viewer"), "Last-Event-ID": "x"})
    assert [p for p, _ in replayed] == positions[2:]
    assert bad.status_code == 400
