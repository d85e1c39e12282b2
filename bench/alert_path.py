"""What storing alerts costs the analysis thread: `AlertService.handle` on it (as before) versus
handing observations to the alert worker (`alerts.alert_worker`), side by side.

    python -m bench.alert_path [--cameras 8] [--ticks 200] [--rounds 2] [--every 5]

Each tick is one analysis pass over every camera with a 1280x720 frame; every ``--every`` ticks
each camera's incident moves on (a new alert with its snapshots, a new peak with its snapshots,
or its end), the way a busy site fires alerts. The ledger is a real SQLite file (WAL,
synchronous=FULL) and snapshots are real JPEG files. Printed per path: the tick time on the
analysis thread (p50, p95, max) and the time until every alert was stored (the worker drains
after the last tick). Figures only; rounds alternate the paths (A B A B) on this noisy machine.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alerts.alert_worker import AlertWorker
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.service import AlertService
from bench.proc import percentile
from core.vocabulary import Hazard
from detect.observations import Box, Observation, Phase

Image = npt.NDArray[np.uint8]
CYCLE = (Phase.START, Phase.UPDATE, Phase.UPDATE, Phase.END)  # new, two new peaks, end


@dataclass(frozen=True)
class PathFigures:
    """One round of one path."""

    path: str
    tick_ms: list[float]
    stored_s: float  # from the first tick until every alert was stored
    alerts: int


def frames(cameras: int) -> list[Image]:
    """A textured 720p frame per camera (JPEG has real work to do)."""
    rng = np.random.default_rng(7)
    return [rng.integers(0, 255, (720, 1280, 3), np.uint8) for _ in range(cameras)]


def observation(camera: int, tick: int, every: int) -> Observation | None:
    """Camera ``camera``'s observation at ``tick``: its incident's next step every ``every``."""
    if tick % every:
        return None
    phase = CYCLE[(tick // every) % len(CYCLE)]
    score = 0.5 + 0.1 * ((tick // every) % len(CYCLE))
    box = Box("fire", score, 100, 100, 300, 260)
    return Observation(
        f"cam-{camera}", "frame", Hazard.FLAME, phase, 1e9 + tick, score, boxes=(box,)
    )


def run_path(
    name: str, work: Path, cameras: int, ticks: int, every: int, images: Sequence[Image]
) -> PathFigures:
    """One round: ``ticks`` passes over the cameras through the ``name`` path."""
    ledger = Ledger(work / f"{name}.sqlite3")
    service = AlertService(
        ledger, Topics("bench", "b"), work, "http://b", {}, min_update_interval_s=0
    )
    stop = threading.Event()
    worker = AlertWorker(service, stop)
    deliver: Callable[[Observation, Image], object]
    if name == "worker":
        worker.start()
        deliver = worker.submit
    else:
        deliver = service.handle
    tick_ms: list[float] = []
    started = time.perf_counter()
    for tick in range(ticks):
        begun = time.perf_counter()
        for camera in range(cameras):
            found = observation(camera, tick, every)
            if found is not None:
                deliver(found, images[camera])
        tick_ms.append((time.perf_counter() - begun) * 1000)
    stop.set()
    if worker.is_alive():
        worker.join()
    stored_s = time.perf_counter() - started
    alerts = len(ledger.recent_alerts(limit=100_000))
    ledger.close()
    return PathFigures(name, tick_ms, stored_s, alerts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_path", description=__doc__)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--every", type=int, default=5, help="ticks between incident steps")
    args = parser.parse_args(argv)
    images = frames(args.cameras)
    results: list[PathFigures] = []
    with tempfile.TemporaryDirectory(prefix="alert-path-") as tmp:
        for round_ in range(args.rounds):
            for name in ("on the analysis thread", "worker"):
                work = Path(tmp) / f"{round_}-{name.replace(' ', '-')}"
                work.mkdir()
                results.append(run_path(name, work, args.cameras, args.ticks, args.every, images))
    print(
        f"{args.cameras} cameras, 1280x720, {args.ticks} ticks, an incident step every "
        f"{args.every} ticks per camera ({args.rounds} rounds, alternating)\n"
    )
    header = ("tick p50", "tick p95", "tick max", "stored in", "alerts")
    print(f"{'path':24} " + " ".join(f"{h:>10}" for h in header))
    for r in results:
        print(
            f"{r.path:24} {percentile(r.tick_ms, 50):8.2f}ms {percentile(r.tick_ms, 95):8.2f}ms "
            f"{max(r.tick_ms):8.1f}ms {r.stored_s:9.2f}s {r.alerts:>10}"
        )
    sync = [t for r in results if r.path != "worker" for t in r.tick_ms]
    handed = [t for r in results if r.path == "worker" for t in r.tick_ms]
    print(
        f"\ntick p95 on the analysis thread: {percentile(sync, 95):.2f} ms storing alerts there, "
        f"{percentile(handed, 95):.3f} ms handing them to the worker "
        f"({percentile(sync, 95) / max(percentile(handed, 95), 1e-6):.0f}x less)"
    )


if __name__ == "__main__":
    main()
