"""The alert service's thread (alerts.alert_worker): order kept, nothing lost at stop, one bad
observation does not stop it, a full queue makes the analysis loop wait instead of dropping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alerts.alert_worker import AlertWorker
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.model import EvidenceKind
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase

T0 = 1_800_000_000.0
FRAME: npt.NDArray[np.uint8] = np.full((72, 128, 3), 90, np.uint8)


def observation(zone: str, phase: Phase, at: float, score: float = 0.8) -> Observation:
    return Observation("dock", zone, Hazard.BLOCKED_EXIT, phase, at, score)


def test_observations_are_stored_in_order_with_snapshots_and_drained_at_stop(
    tmp_path: Path,
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sw", "t"), tmp_path, "http://h", {})
    stop = threading.Event()
    worker = AlertWorker(service, stop)
    worker.start()
    zones = [f"exit-{n}" for n in range(3)]
    for step, phase in enumerate((Phase.START, Phase.UPDATE, Phase.END)):
        for index, zone in enumerate(zones):
            worker.submit(observation(zone, phase, T0 + step * 10 + index, 0.5 + step / 10), FRAME)
    stop.set()  # what is queued is still applied
    worker.join(10)
    assert not worker.is_alive()
    alerts = ledger.recent_alerts()
    ledger_events = {a.zone: [e["type"] for e in ledger.events(a.alert_id)] for a in alerts}
    ledger.close()
    assert worker.applied == 9
    assert sorted(ledger_events) == zones
    assert all(types == ["new", "update", "end"] for types in ledger_events.values())
    assert all(not a.active and a.find(EvidenceKind.SNAPSHOT) is not None for a in alerts)


class Flaky:
    """A service whose ``handle`` fails once on one zone (a unit test of the worker's loop)."""

    def __init__(self) -> None:
        self.handled: list[str] = []

    def handle(self, obs: Observation, image: npt.NDArray[np.uint8] | None) -> None:
        if obs.zone == "bad":
            raise ValueError("broken observation")
        self.handled.append(obs.zone)

    def flush_updates(self, now: float) -> int:
        return 0


def test_one_failing_observation_does_not_stop_the_worker() -> None:
    service = Flaky()
    stop = threading.Event()
    worker = AlertWorker(service, stop)  # type: ignore[arg-type]
    worker.start()
    for zone in ("a", "bad", "b"):
        worker.submit(observation(zone, Phase.START, T0), None)
    stop.set()
    worker.join(5)
    assert service.handled == ["a", "b"]


def test_a_full_queue_makes_submit_wait_instead_of_dropping() -> None:
    service = Flaky()
    stop = threading.Event()
    worker = AlertWorker(service, stop, limit=2)  # type: ignore[arg-type]
    worker.submit(observation("a", Phase.START, T0), None)
    worker.submit(observation("b", Phase.START, T0), None)
    third = threading.Thread(target=worker.submit, args=(observation("c", Phase.START, T0), None))
    third.start()
    time.sleep(0.3)
    assert third.is_alive()  # waiting for room, not dropped
    worker.start()
    third.join(5)
    stop.set()
    worker.join(5)
    assert service.handled == ["a", "b", "c"]
