"""The live analysis loop's schedule and its two threads: each camera's next sample is due one
period after its previous due time, frames that need no inference are analysed while the
detector is busy, an overloaded node slows every camera alike and reports achieved against
configured rates and the frame age to the detections."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from alerts.alert_worker import AlertWorker
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.service import AlertService
from detect.detections import Detections
from detect.inference import DetectorStage
from detect.references import ReferenceStore
from ingest.camera_reader import CameraReader, ReaderSettings
from ingest.frames import PendingFrame
from sitewatch.analysis_rate import CameraRate, OverloadWatch
from sitewatch.config.site import SiteConfig
from sitewatch.pipeline import AnalysisLoop, CameraWork
from sitewatch.rule_setup import camera_work

NAMES = ("fire", "smoke", "helmet", "head")
HEIGHT, WIDTH = 90, 160
DEADLINE_S = 30.0


class StubDetector:
    """Finds nothing; each call can wait (``hold``) or take ``seconds``."""

    def __init__(self, seconds: float = 0.0, hold_from_call: int | None = None) -> None:
        self.class_names = NAMES
        self.input_size = 320
        self.providers = ["stand-in"]
        self.seconds = seconds
        self.hold_from_call = hold_from_call
        self.calls = 0
        self.held = threading.Event()
        self.release = threading.Event()

    def floors(self) -> npt.NDArray[np.float32]:
        return np.zeros(len(NAMES), np.float32)

    def detect_batch(self, images: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        self.calls += 1
        if self.hold_from_call is not None and self.calls >= self.hold_from_call:
            self.held.set()
            self.release.wait(DEADLINE_S)
        time.sleep(self.seconds)
        return [Detections.empty(NAMES) for _ in images]


def config(tmp: Path, cameras: int) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"id": "plant-a"},
            "cameras": [
                {"name": f"cam-{i}", "url": f"rtsp://127.0.0.1:9/{i}", "detect_fps": 2}
                for i in range(cameras)
            ],
            "storage": {"data_dir": str(tmp)},
        }
    )


def moving(index: int) -> npt.NDArray[np.uint8]:
    """A new random picture every frame: the motion gate always lets it through."""
    return np.random.default_rng(index).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)


STILL = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)


def constant(image: npt.NDArray[np.uint8]) -> Callable[[], npt.NDArray[np.uint8]]:
    return lambda: image


class Feeder(threading.Thread):
    """Puts a new frame into each reader's slot every 20 ms (a 50 fps camera)."""

    def __init__(self, readers: dict[str, CameraReader], still: frozenset[str]) -> None:
        super().__init__(daemon=True)
        self.readers, self.still = readers, still
        self.stop = threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stop.wait(0.02):
            index += 1
            for name, reader in self.readers.items():
                image = STILL if name in self.still else moving(index)
                now = time.monotonic()
                reader.latest.put(
                    PendingFrame(name, constant(image), index, now, time.time(), None)
                )


@contextmanager
def running(
    tmp: Path,
    cameras: int,
    detector: StubDetector,
    still: frozenset[str] = frozenset(),
) -> Iterator[AnalysisLoop]:
    site = config(tmp, cameras)
    stop = threading.Event()
    readers = {c.name: CameraReader(ReaderSettings(c.name, c.url), stop) for c in site.cameras}
    works = [camera_work(site, c, True, readers[c.name]) for c in site.cameras]
    ledger = Ledger(tmp / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sitewatch", "plant-a"), tmp, "", {})
    alerts = AlertWorker(service, stop)
    stage = DetectorStage({"stub": detector})
    loop = AnalysisLoop(works, alerts, ReferenceStore(tmp / "refs"), stop, stage)
    feeder = Feeder(readers, still)
    feeder.start()
    alerts.start()
    loop.start()
    try:
        yield loop
    finally:
        detector.release.set()
        feeder.stop.set()
        stop.set()
        loop.join(5)
        alerts.join(5)
        feeder.join(5)
        ledger.close()


def wait_until(predicate: Any) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def analysed(loop: AnalysisLoop, camera: str) -> int:
    return int(loop.figures()[camera]["analysed"])


def test_the_next_sample_is_due_one_period_after_the_last_due_time(tmp_path: Path) -> None:
    """A pass that starts late does not push the camera's schedule back by its lateness."""
    site = config(tmp_path, 1)
    stop = threading.Event()
    reader = CameraReader(ReaderSettings("cam-0", site.cameras[0].url), stop)
    work: CameraWork = camera_work(site, site.cameras[0], True, reader)
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sitewatch", "plant-a"), tmp_path, "", {})
    loop = AnalysisLoop([work], AlertWorker(service, stop), ReferenceStore(tmp_path), stop)
    try:
        now = time.monotonic()
        reader.latest.put(PendingFrame("cam-0", lambda: STILL, 1, now, time.time(), None))
        work.next_due = now - 0.3  # due 0.3 s ago: the previous pass ran long
        assert len(loop._take_due_frames(now)) == 1
        assert work.next_due == pytest.approx(now - 0.3 + work.sample_period_s)
    finally:
        ledger.close()


def test_frames_without_inference_are_analysed_while_the_detector_is_busy(
    tmp_path: Path,
) -> None:
    """cam-1 sees a still scene (motion-gated, its last detections stand): its frames keep
    being analysed while the detector is held on cam-0's frame."""
    detector = StubDetector(hold_from_call=3)
    with running(tmp_path, 2, detector, still=frozenset({"cam-1"})) as loop:
        assert detector.held.wait(DEADLINE_S), "the detector was never called a third time"
        before = analysed(loop, "cam-1")
        assert wait_until(lambda: analysed(loop, "cam-1") >= before + 3), loop.figures()
        assert detector.held.is_set() and not detector.release.is_set()


def test_an_overloaded_node_slows_every_camera_alike_and_says_how_much(tmp_path: Path) -> None:
    """Each batch takes 0.8 s: no camera can get its 2 frames/s; all get the same share, and
    the figures say achieved against configured and the age of a frame at its result."""
    detector = StubDetector(seconds=0.8)
    with running(tmp_path, 4, detector) as loop:
        assert wait_until(lambda: min(analysed(loop, f"cam-{i}") for i in range(4)) >= 4)
        assert wait_until(lambda: loop.figures()["cam-0"]["achieved_fps"] > 0)
        figures = loop.figures()
    counts = [int(f["analysed"]) for f in figures.values()]
    assert max(counts) - min(counts) <= 1, figures  # nobody starves
    for camera in figures.values():
        assert camera["configured_fps"] == 2.0
        assert 0 < camera["achieved_fps"] < 1.9, figures
        assert camera["result_age_ms"] >= 800, figures  # the detector's time is in the age


def rates(achieved: float, source: float = 25.0) -> list[CameraRate]:
    return [CameraRate(f"cam-{i}", 2.0, achieved + 0.1 * i, source) for i in range(3)]


def test_overload_is_warned_once_with_the_numbers(caplog: pytest.LogCaptureFixture) -> None:
    watch = OverloadWatch(started_at=0.0)
    with caplog.at_level(logging.INFO, logger="sitewatch.analysis_rate"):
        assert not watch.check(rates(1.0), now=5.0, age_ms=900.0)  # still starting
        assert watch.check(rates(1.0), now=30.0, age_ms=900.0)
        assert watch.check(rates(1.0), now=31.0, age_ms=950.0)
        assert not watch.check(rates(1.95), now=40.0, age_ms=300.0)
        assert watch.check(rates(1.0), now=50.0, age_ms=900.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "3 of 3 cameras" in text and "1.00-1.20" in text and "instead of 2" in text
    assert "900 ms" in text
    assert watch.episodes == 2


def test_a_camera_slower_than_its_rate_by_itself_is_not_overload() -> None:
    """A stream that delivers 1 frame/s cannot be analysed at 2: not the node's fault."""
    watch = OverloadWatch(started_at=0.0)
    assert not watch.check(rates(0.95, source=1.0), now=30.0, age_ms=100.0)
    assert not watch.check([CameraRate("off", 2.0, 0.0, 0.0)], now=31.0, age_ms=None)
