"""The analysis loop: newest frame per camera -> exit checks -> rules -> alert service."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from alerts.service import AlertService
from detect.blocked_exit import BlockedExitParams, ExitState, ZonePhase, step
from detect.detections import Detections
from detect.exit_compare import Gray, differing_fraction, to_gray
from detect.inference import DetectorStage
from detect.motion import MotionGate
from detect.observations import Hazard
from detect.references import ReferenceStore
from detect.zones import Mask, ZoneShape
from ingest.camera_reader import CameraReader
from ingest.frames import Frame

log = logging.getLogger(__name__)


@dataclass
class ExitZoneWatch:
    """One exit zone's rule state and cached mask."""

    zone: ZoneShape
    state: ExitState = field(default_factory=ExitState)
    mask: Mask | None = None

    def mask_for(self, width: int, height: int) -> Mask:
        """The zone mask at this frame size (cached)."""
        if self.mask is None or self.mask.shape != (height, width):
            self.mask = self.zone.mask(width, height)
        return self.mask


@dataclass
class CameraWork:
    """What the loop does for one camera."""

    reader: CameraReader
    sample_period_s: float
    exits: list[ExitZoneWatch]
    detect_period_s: float | None = None
    last_index: int = -1
    next_due: float = 0.0
    next_detect_due: float = 0.0
    reference: Gray | None = None
    reference_stamp: float | None = None
    detections: dict[str, Detections] = field(default_factory=dict)
    detections_at: float | None = None
    motion: MotionGate | None = None


class AnalysisLoop(threading.Thread):
    """Samples every camera at its rate and runs the rules; one thread for all cameras."""

    def __init__(
        self,
        cameras: list[CameraWork],
        service: AlertService,
        references: ReferenceStore,
        exit_params: BlockedExitParams,
        stop: threading.Event,
        detectors: DetectorStage | None = None,
    ) -> None:
        super().__init__(name="analysis", daemon=True)
        self._cameras = cameras
        self._service = service
        self._references = references
        self._exit_params = exit_params
        self._stop_event = stop
        self._detectors = detectors
        self.frames_analysed = 0
        self._resume_open_alerts()

    def _resume_open_alerts(self) -> None:
        """Zones with an alert still open from before a restart start as blocked, so that
        the alert ends once the zone is seen clear instead of staying open forever."""
        open_keys = {(a.camera, a.zone) for a in self._service.open_alerts()}
        now = time.time()
        for work in self._cameras:
            for watch in work.exits:
                if (work.reader.settings.name, watch.zone.name) in open_keys:
                    watch.state = ExitState(ZonePhase.BLOCKED, now)

    def run(self) -> None:
        """Loop until stop: take the due frames, detect on them in one batch, run the rules."""
        while not self._stop_event.is_set():
            due = self._take_due_frames(time.monotonic())
            self._detect(due)
            for work, frame in due:
                try:
                    self._analyse(work, frame)
                    self._service.flush_updates(frame.wall_time)
                except (ValueError, OSError, cv2.error) as error:
                    log.exception("camera %s: analysis failed: %s", frame.camera, error)
                self.frames_analysed += 1
            now = time.monotonic()
            soonest = min((w.next_due for w in self._cameras), default=now + 0.1)
            self._stop_event.wait(min(max(soonest - time.monotonic(), 0.01), 0.1))

    def _take_due_frames(self, now: float) -> list[tuple[CameraWork, Frame]]:
        due: list[tuple[CameraWork, Frame]] = []
        for work in self._cameras:
            if now < work.next_due:
                continue
            frame = work.reader.latest.take_newer(work.last_index, time.monotonic())
            if frame is None:
                continue
            work.last_index = frame.index
            work.next_due = now + work.sample_period_s
            due.append((work, frame))
        return due

    def _detect(self, due: list[tuple[CameraWork, Frame]]) -> None:
        """One batched inference per model over every camera whose detection is due."""
        if self._detectors is None:
            return
        now = time.monotonic()
        batch: dict[str, tuple[CameraWork, Frame]] = {}
        for work, frame in due:
            if work.detect_period_s is None or now < work.next_detect_due:
                continue
            if work.motion is not None and not work.motion.check(frame.image, frame.wall_time):
                # Nothing moved: the last detections still describe the scene.
                work.next_detect_due = now + work.detect_period_s
                work.detections_at = frame.wall_time
                continue
            batch[work.reader.settings.name] = (work, frame)
        if not batch:
            return
        try:
            found = self._detectors.run({name: frame.image for name, (_, frame) in batch.items()})
        except (ValueError, RuntimeError) as error:  # onnxruntime failures are RuntimeErrors
            log.exception("detector failed on %s: %s", ", ".join(batch), error)
            return
        for name, (work, frame) in batch.items():
            assert work.detect_period_s is not None
            work.next_detect_due = now + work.detect_period_s
            if name in found:
                work.detections = found[name]
                work.detections_at = frame.wall_time

    def _analyse(self, work: CameraWork, frame: Frame) -> None:
        if not work.exits:
            return
        current = to_gray(frame.image)
        reference = self._reference_for(work, frame)
        width, height = frame.size
        for watch in work.exits:
            fraction = differing_fraction(reference, current, watch.mask_for(width, height))
            watch.state, observations = step(
                watch.state,
                fraction,
                frame.wall_time,
                self._exit_params,
                frame.camera,
                watch.zone.name,
            )
            if not observations:
                continue
            points = watch.zone.pixel_points(width, height)
            outline = tuple((int(x), int(y)) for x, y in points)
            for observation in observations:
                assert observation.hazard is Hazard.BLOCKED_EXIT
                self._service.handle(replace(observation, outline=outline), frame.image)

    def _reference_for(self, work: CameraWork, frame: Frame) -> Gray:
        width, height = frame.size
        stamp = self._references.stamp(frame.camera)
        if work.reference is not None and stamp != work.reference_stamp:
            log.info("camera %s: the reference image was replaced; using the new one", frame.camera)
            work.reference = None
        if work.reference is None:
            stored = self._references.load(frame.camera)
            if stored is None:
                stored = self._references.save(frame.camera, frame.image, frame.wall_time)
                log.info(
                    "camera %s: captured the reference image of the clear exits (%s)",
                    frame.camera,
                    stored.path,
                )
            work.reference = to_gray(stored.image)
            work.reference_stamp = self._references.stamp(frame.camera)
        if work.reference.shape != (height, width):
            log.warning(
                "camera %s: frame size %dx%d differs from the reference %dx%d; resizing it",
                frame.camera,
                width,
                height,
                work.reference.shape[1],
                work.reference.shape[0],
            )
            work.reference = np.asarray(cv2.resize(work.reference, (width, height)), np.float32)
        return work.reference
