"""``sitewatch replay``: a recorded video through the live ingest -> detect -> rules path.

Video time replaces the clock: frames are read as fast as the CPU allows (none dropped), sampled
at the camera's rates in video seconds, and the incidents are reported with their start and end
in the video. The rules' observations go through the live alert service (``alerts.service``:
``alerts.lifecycle.decide`` with the configured cooldowns, on a throwaway ledger), so an
incident is exactly what would have been one alert: flames back within the cooldown reopen it,
as they do live. The exit reference is the camera's stored one (``sitewatch calibrate``), a
``--reference`` picture, or else the video's first frame.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.model import AlertChange, EventType
from alerts.service import AlertService
from core.errors import SitewatchError
from detect.exit_compare import Gray, to_gray
from detect.inference import DetectorStage
from detect.observations import Observation
from detect.references import ReferenceStore
from ingest.camera_reader import CameraReader, Pacing, ReaderSettings
from ingest.frames import Image
from ingest.status import CameraState
from sitewatch.config.site import SiteConfig
from sitewatch.pipeline import CameraWork, Tick, analyse, fit_reference, merged
from sitewatch.rule_setup import alert_cooldowns, camera_work

Progress = Callable[[float, float | None], None]  # (video seconds done, duration or None)


class ReplayError(SitewatchError, RuntimeError):
    """The replay cannot run; the message says why."""


@dataclass
class Incident:
    """One incident found in the video, i.e. one alert (times in video seconds)."""

    hazard: str
    zone: str
    start_s: float
    end_s: float | None = None  # the last end (an incident reopened within its cooldown)
    severity: str = "warning"  # critical once it was ever critical
    peak_score: float = 0.0
    updates: int = 0  # update events of the alert (reopenings included)
    details: dict[str, float | int | str] = field(default_factory=dict)
    reopened: int = 0  # times it came back within the cooldown after it had ended

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
    """Observations through the live alert service; each alert it opens is one incident.

    ``service`` is an ``AlertService`` as the runner builds it (same cooldowns, same update
    rate limit) on a ledger of its own; observations carry no picture, so no evidence is
    written. Times are reported relative to ``start``.
    """

    def __init__(self, service: AlertService, start: float = 0.0) -> None:
        self._service = service
        self._start = start
        self._incidents: dict[str, Incident] = {}  # by alert id

    def add(self, observation: Observation) -> AlertChange | None:
        """Apply one observation as the live analysis loop does; returns the alert change."""
        change = self._service.handle(observation, None)
        if change is not None:
            self._fold(change)
        return change

    def flush(self, now: float) -> None:
        """Publish held updates whose quiet interval has passed (as live, after each frame)."""
        self._service.flush_updates(now)

    def _fold(self, change: AlertChange) -> None:
        alert = change.after
        incident = self._incidents.get(alert.alert_id)
        if incident is None:
            incident = Incident(alert.hazard, alert.zone, self._at(alert.started_at))
            self._incidents[alert.alert_id] = incident
        elif change.type is EventType.UPDATE:
            incident.updates += 1
            if change.before is not None and not change.before.active:
                incident.reopened += 1
        incident.end_s = None if alert.ended_at is None else self._at(alert.ended_at)
        incident.peak_score = max(incident.peak_score, alert.peak_score)
        if alert.severity == "critical":
            incident.severity = "critical"
        incident.details = dict(alert.details)

    def _at(self, when: float) -> float:
        return round(when - self._start, 2)

    def all(self) -> list[Incident]:
        """Ended and still open incidents, by start time."""
        return sorted(self._incidents.values(), key=lambda i: (i.start_s, i.hazard))


@contextmanager
def incident_log(config: SiteConfig, start: float = 0.0) -> Iterator[IncidentLog]:
    """An ``IncidentLog`` over the live alert service with ``config``'s cooldowns, on a
    ledger in a temporary folder (removed on exit)."""
    with tempfile.TemporaryDirectory(prefix="sitewatch-replay-") as folder:
        data_dir = Path(folder)
        ledger = Ledger(data_dir / "ledger.sqlite3")
        try:
            topics = Topics(config.mqtt.topic_prefix, config.site.id)
            service = AlertService(ledger, topics, data_dir, "", alert_cooldowns(config))
            yield IncidentLog(service, start)
        finally:
            ledger.close()


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
    frames = sampled = 0
    video_time = first = 0.0
    started = time.monotonic()
    duration = _duration(video)
    reader.start()
    last = -1
    with incident_log(config) as log, _stopping(reader, stop):
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
            log.flush(video_time)
            if progress is not None:
                progress(video_time, duration)
        incidents = log.all()
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
        incidents,
    )


@contextmanager
def _stopping(reader: CameraReader, stop: threading.Event) -> Iterator[None]:
    try:
        yield
    finally:
        stop.set()
        reader.join(5.0)


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
