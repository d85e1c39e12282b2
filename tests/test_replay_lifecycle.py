"""``sitewatch replay`` counts incidents as the product alerts them (issue 14, item 14): a flame
that goes quiet for 20 s and comes back within the cooldown is one incident in replay, as it is
one alert live (reopened); past the cooldown it is two.

The video is real H.264 (a flickering orange patch on grey, made here); a stand-in detector
boxes the patch as ``fire`` (the shipped model is not what is under test). Everything after the
detector is the product's: the reader, the flame rule, and the alert lifecycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from alerts.alert_worker import AlertWorker
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.service import AlertService
from detect.detections import Detections
from detect.inference import DetectorStage
from detect.references import ReferenceStore
from ingest.camera_reader import CameraReader, ReaderSettings
from sitewatch.config.loader import load_config
from sitewatch.config.site import SiteConfig
from sitewatch.demo.video_file import write_camera_video
from sitewatch.pipeline import AnalysisLoop
from sitewatch.replay import Incident, replay
from sitewatch.rule_setup import alert_cooldowns, camera_work

SIZE = (320, 180)
FPS = 10
FLAMES_S = ((1.0, 6.0), (26.0, 30.0))  # quiet for 20 s in between
DURATION_S = 43.0  # the second incident ends too (clear_s after 30 s)
CLEAR_S = 10.0  # the first incident ends about 16 s in, 10 s before the flames return
PATCH = (slice(60, 110), slice(130, 190))  # rows, columns
NAMES = ("fire", "smoke", "helmet", "head")


def frames() -> Iterator[npt.NDArray[np.uint8]]:
    """Grey, with a flickering orange patch while ``FLAMES_S`` says so."""
    rng = np.random.default_rng(5)
    for index in range(round(DURATION_S * FPS)):
        image = np.full((SIZE[1], SIZE[0], 3), 120, np.uint8)
        t = index / FPS
        if any(start <= t < end for start, end in FLAMES_S):
            patch = image[PATCH]
            patch[..., 0] = rng.integers(0, 30, patch.shape[:2])
            patch[..., 1] = rng.integers(80, 140, patch.shape[:2])
            patch[..., 2] = rng.integers(220, 256, patch.shape[:2])
        yield image


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_camera_video(tmp_path_factory.mktemp("flames") / "flames.mp4", frames(), FPS, SIZE)


class OrangeFinder:
    """Stand-in detector: one ``fire`` box around the orange pixels, if there are enough."""

    def __init__(self) -> None:
        self.class_names = NAMES
        self.input_size = 320
        self.providers = ["stand-in"]

    def floors(self) -> npt.NDArray[np.float32]:
        return np.zeros(len(NAMES), np.float32)

    def detect_batch(self, images: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        return [self._detect(image) for image in images]

    def _detect(self, image: npt.NDArray[Any]) -> Detections:
        blue, green, red = image[..., 0], image[..., 1], image[..., 2]
        orange = (red > 190) & (blue < 70) & (green > 50) & (green < 170)
        if orange.sum() < 200:
            return Detections.empty(NAMES)
        rows, columns = np.nonzero(orange)
        box = [columns.min(), rows.min(), columns.max() + 1, rows.max() + 1]
        return Detections(
            np.array([box], np.float32),
            np.array([0.9], np.float32),
            np.array([0], np.int32),
            NAMES,
        )


def site(tmp_path: Path, cooldown_s: float) -> SiteConfig:
    config = {
        "site": {"id": "yard"},
        "cameras": [{"name": "yard", "url": "rtsp://127.0.0.1:9/none", "detect_fps": 2}],
        "rules": {
            "flame": {"clear_s": CLEAR_S, "cooldown_s": cooldown_s, "evidence": {"enabled": False}},
            "hardhat": {"enabled": False},
        },
        "storage": {"data_dir": str(tmp_path / "data")},
    }
    path = tmp_path / f"site-{cooldown_s:g}.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path)


def stage() -> DetectorStage:
    return DetectorStage({"hazards": OrangeFinder()})


def flames(incidents: list[Incident]) -> list[Incident]:
    return [i for i in incidents if i.hazard == "flame"]


def live_flame_alerts(config: SiteConfig, clip: Path, data_dir: Path) -> int:
    """Play ``clip`` at its own rate through the live analysis loop and alert service, as
    ``sitewatch run`` wires them; the flame alerts in the ledger afterwards."""
    stop = threading.Event()
    camera = config.cameras[0]
    reader = CameraReader(ReaderSettings(camera.name, str(clip), loop=False), stop)
    ledger = Ledger(data_dir / "ledger.sqlite3")
    try:
        service = AlertService(
            ledger, Topics("sitewatch", config.site.id), data_dir, "", alert_cooldowns(config)
        )
        work = camera_work(config, camera, True, reader)
        alerts = AlertWorker(service, stop)
        loop = AnalysisLoop([work], alerts, ReferenceStore(data_dir / "refs"), stop, stage())
        reader.start()
        alerts.start()
        loop.start()
        assert reader.finished.wait(DURATION_S * 3), reader.status
        time.sleep(1.0)  # the loop samples the last frames
        stop.set()
        loop.join(5)
        reader.join(5)
        alerts.join(5)
        return sum(1 for alert in ledger.recent_alerts() if alert.hazard == "flame")
    finally:
        stop.set()
        ledger.close()


def test_flames_back_within_the_cooldown_are_one_incident_as_live(
    clip: Path, tmp_path: Path
) -> None:
    config = site(tmp_path, cooldown_s=60.0)
    found = flames(replay(config, clip, None, stage()).incidents)
    assert len(found) == 1, found
    incident = found[0]
    assert incident.reopened == 1
    assert FLAMES_S[0][0] <= incident.start_s <= FLAMES_S[0][0] + 3.0
    assert incident.end_s is not None and incident.end_s >= FLAMES_S[1][1]  # the second end
    assert live_flame_alerts(config, clip, tmp_path / "live") == len(found)


def test_flames_back_after_the_cooldown_are_two_incidents(clip: Path, tmp_path: Path) -> None:
    found = flames(replay(site(tmp_path, cooldown_s=5.0), clip, None, stage()).incidents)
    assert len(found) == 2, found
    assert [i.reopened for i in found] == [0, 0]
    first, second = found
    assert first.end_s is not None and first.end_s < FLAMES_S[1][0] <= second.start_s
