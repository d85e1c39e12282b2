"""``sitewatch replay``: a recorded video through the live ingest -> detect -> rules path.

Video time replaces the clock: frames are read as fast as the CPU allows (none dropped), sampled
at the camera's rates in video seconds, and the incidents are reported with their start and end
in the video. The exit reference is the camera's stored one (``sitewatch calibrate``), a
``--reference`` picture, or else the video's first frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detect.exit_compare import Gray, to_gray
from detect.inference import DetectorStage
from detect.observations import Observation, Phase
from detect.references import ReferenceStore
from ingest.camera_reader import CameraReader, Pacing, ReaderSettings
from ingest.frames import Image
from ingest.status import CameraState
from sitewatch.config.site import SiteConfig
from sitewatch.pipeline import CameraWork, Tick, analyse, fit_reference, merged
from sitewatch.rule_setup import camera_work

Progress = Callable[[float, float | None], None]  # (video seconds done, duration or None)


class ReplayError(RuntimeError):
    """The replay cannot run; the message says why."""


@dataclass
class Incident:
    """One incident found in the video (times in video seconds)."""

    hazard: str
    zone: str
    start_s: float
    end_s: float | None = None
    severity: str = "warning"
    peak_score: float = 0.0
    updates: int = 0
    details: dict[str, float | int | str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class ReplayResult:
    """What a replay found and what it cost."""

    video: str
    camera: str
    duration_s: float
    frames: int
    sampled: int
    inferred: int
    gated: int
    seconds: float
    incidents: list[Incident]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "incidents": [i.to_dict() for i in self.incidents]}


class IncidentLog:
    """Folds observations into incidents, the way the alert service opens and ends alerts."""

    def __init__(self, start: float) -> None:
        self._start = start
        self.open: dict[tuple[str, str], Incident] = {}
        self.done: list[Incident] = []

    def add(self, observation: Observation) -> None:
        """Account for one observation."""
        key = (observation.hazard.value, observation.zone)
        at = round(observation.time - self._start, 2)
        incident = self.open.get(key)
        if observation.phase is Phase.START or incident is None:
            incident = Incident(observation.hazard.value, observation.zone, at)
            self.open[key] = incident
        else:
            incident.updates += observation.phase is Phase.UPDATE
        incident.peak_score = max(incident.peak_score, observation.score)
        if observation.severity.value == "critical":
            incident.severity = "critical"
        incident.details = dict(observation.details)
        if observation.phase is Phase.END:
            incident.end_s = at
            self.done.append(self.open.pop(key))

    def all(self) -> list[Incident]:
        """Ended and still open incidents, by start time."""
        return sorted([*self.done, *self.open.values()], key=lambda i: (i.start_s, i.hazard))


def _reference(config: SiteConfig, camera: str, picture: Path | None) -> Gray | None:
    if picture is not None:
        image = cv2.imread(str(picture), cv2.IMREAD_COLOR)
        if image is None:
            raise ReplayError(f"cannot read the reference picture {picture}")
        return to_gray(np.asarray(image, np.uint8))
    stored = ReferenceStore(config.storage.data_dir / "references").load(camera)
    return None if stored is None else to_gray(stored.image)


def replay(
    config: SiteConfig,
    video: Path,
    camera_name: str | None,
    detectors: DetectorStage | None,
    reference: Path | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    """Run ``video`` as camera ``camera_name`` (may be omitted when the site has one camera)."""
    if not video.is_file():
        raise ReplayError(f"video {video} not found")
    names = [camera.name for camera in config.cameras]
    if camera_name is None:
        if len(names) != 1:
            raise ReplayError(f"the site has {len(names)} cameras ({', '.join(names)}): pick one")
        camera_name = names[0]
    try:
        camera = config.camera(camera_name)
    except KeyError as error:
        raise ReplayError(str(error.args[0])) from None
    work = camera_work(config, camera, detectors is not None)
    stored = _reference(config, camera.name, reference)

    def reference_of(w: CameraWork, image: Image, _time: float) -> Gray:
        if w.reference is None:
            w.reference = stored if stored is not None else to_gray(image)
        height, width = image.shape[:2]
        w.reference = fit_reference(w, w.reference, width, height)
        return w.reference

    stop = threading.Event()
    settings = ReaderSettings(
        camera.name,
        str(video),
        pacing=Pacing.FAST,
        loop=False,
        max_width=camera.max_width,
        buffer_seconds=0.0,
    )
    reader = CameraReader(settings, stop)
    log = IncidentLog(0.0)
    frames = sampled = 0
    video_time = first = 0.0
    started = time.monotonic()
    duration = _duration(video)
    reader.start()
    last = -1
    try:
        while True:
            finished = reader.finished.is_set()  # read first: no frame comes after it
            pending = reader.latest.take_newer_pending(last)
            if pending is None:
                # A file that cannot be read (or breaks off) is not retried as a camera is.
                broken = reader.status.state in {CameraState.OFFLINE, CameraState.STALLED}
                if finished or broken or not reader.is_alive():
                    break
                time.sleep(0.001)
                continue
            last = pending.index
            frames += 1
            if pending.stream_time is None:
                raise ReplayError(f"{video}: frames carry no timestamps")
            if frames == 1:
                first = pending.stream_time
            video_time = pending.stream_time - first
            if video_time < work.next_due:
                continue
            work.next_due = video_time + work.sample_period_s
            sampled += 1
            image = pending.to_frame().image
            tick = work.detection_tick(image, video_time, video_time)
            fresh = None
            if tick is Tick.INFER and detectors is not None:
                fresh = merged(detectors.run({camera.name: image})).get(camera.name)
            for observation in analyse(
                work, image, video_time, video_time, tick, fresh, reference_of
            ):
                log.add(observation)
            if progress is not None:
                progress(video_time, duration)
    finally:
        stop.set()
        reader.join(5.0)
    if frames == 0:
        status = reader.status
        raise ReplayError(f"{video}: no frame decoded ({status.last_error or status.state.value})")
    return ReplayResult(
        str(video),
        camera.name,
        round(max(video_time, duration or 0.0), 2),
        frames,
        sampled,
        work.inferred,
        work.gated,
        round(time.monotonic() - started, 2),
        log.all(),
    )


def _duration(video: Path) -> float | None:
    import av

    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return float(container.duration / 1_000_000)
    except (av.FFmpegError, IndexError):
        return None
    return None
