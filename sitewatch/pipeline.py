"""The analysis loop: newest frame per camera, motion gate, batched detection, rules, alerts.

``CameraWork`` holds one camera's schedule and rule states and ``analyse`` runs its rules on a
frame; the live ``AnalysisLoop`` and ``sitewatch replay`` share both, so a replayed video goes
through exactly the code that runs on the cameras.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

from alerts.alert_worker import AlertWorker
from detect.blank_frame import is_featureless
from detect.camera_rules import CameraRules, merge_detections
from detect.detections import Detections
from detect.exit_compare import Gray, to_gray
from detect.inference import DetectorStage
from detect.motion import MotionGate
from detect.observations import Observation
from detect.references import ReferenceStore
from ingest.camera_reader import CameraReader
from ingest.frames import Frame, Image
from sitewatch.live_results import ExitShare, LatestResults, LiveResult

log = logging.getLogger(__name__)


@dataclass
class CameraWork:
    """One camera's schedule, rule states and latest detections (times on the caller's clock)."""

    name: str
    rules: CameraRules
    sample_period_s: float
    exit_period_s: float | None  # None: no exit zone
    detect_period_s: float | None  # None: no detector
    motion: MotionGate | None = None
    reader: CameraReader | None = None  # live cameras only
    last_index: int = -1
    next_due: float = 0.0
    next_exit_due: float = 0.0
    next_detect_due: float = 0.0
    reference: Gray | None = None
    reference_stamp: float | None = None
    detections: Detections | None = None
    detections_at: float | None = None
    inferred: int = 0
    gated: int = 0
    stale_skipped: int = 0  # frames older than the stall threshold when taken (not analysed)
    inference_ms: float | None = None  # this camera's share of its batches, smoothed
    zones_version: int = 0  # of the zones its rules were built with (sitewatch.zone_editor)

    def record_inference(self, ms: float) -> None:
        """Account for this camera's share of one batched inference."""
        previous = self.inference_ms
        self.inference_ms = ms if previous is None else previous + 0.1 * (ms - previous)

    def live_result(self, frame: Frame) -> LiveResult:
        """What the rules saw on ``frame`` (references, nothing copied), for the live view."""
        height, width = frame.image.shape[:2]
        exits = tuple(
            ExitShare(w.zone.name, w.last_blocked_fraction, w.last_reason)
            for w in self.rules.exit_watches
            if w.last_reason
        )
        return LiveResult(
            self.name,
            frame.wall_time,
            width,
            height,
            self.detections,
            self.detections_at,
            self.rules.zones,
            exits,
        )

    def figures(self) -> dict[str, float | int]:
        """Per-camera analysis figures for /metrics and /api/health."""
        found: dict[str, float | int] = {
            "inferred": self.inferred,
            "gated": self.gated,
            "stale_skipped": self.stale_skipped,
        }
        if self.inference_ms is not None:
            found["inference_ms"] = round(self.inference_ms, 2)
        return found

    def detection_tick(self, image: Image, now: float, frame_time: float) -> Tick:
        """Whether the detection rules run on this frame, and on new or on the last detections
        (nothing moved since: the last detections still describe the scene)."""
        if self.detect_period_s is None or now < self.next_detect_due:
            return Tick.NOT_DUE
        self.next_detect_due = now + self.detect_period_s
        if self.detections is not None and self.motion is not None:
            if not self.motion.check(image, frame_time):
                self.gated += 1
                return Tick.REUSE
        elif self.motion is not None:
            self.motion.check(image, frame_time)  # learn the background
        self.inferred += 1
        return Tick.INFER


class Tick(Enum):
    """What the detection schedule says about a frame."""

    NOT_DUE = "not due"
    INFER = "infer"
    REUSE = "reuse"


ReferenceSource = Callable[[CameraWork, Image, float], Gray]
RulesRefresh = Callable[[CameraWork], CameraWork]  # the same work, or one with new zones


def keep_rules(work: CameraWork) -> CameraWork:
    """The rules never change (no zone editor)."""
    return work


def analyse(
    work: CameraWork,
    image: Image,
    now: float,
    frame_time: float,
    tick: Tick,
    fresh: Detections | None,
    reference_of: ReferenceSource,
) -> list[Observation]:
    """Run the camera's rules on one sampled frame.

    ``now`` schedules (monotonic live, video time in replay); ``frame_time`` stamps the
    observations. ``tick`` comes from ``CameraWork.detection_tick``; ``fresh`` are this frame's
    detections when it was inferred (None if inference failed: the rules skip the frame).
    """
    found: list[Observation] = []
    height, width = image.shape[:2]
    if tick is Tick.INFER and fresh is not None:
        work.detections, work.detections_at = fresh, frame_time
    detected = tick is Tick.REUSE or (tick is Tick.INFER and fresh is not None)
    if detected and work.detections is not None:
        blank = is_featureless(image)
        found += work.rules.detections(work.detections, frame_time, (width, height), blank, image)
    if work.exit_period_s is not None and now >= work.next_exit_due:
        work.next_exit_due = now + work.exit_period_s
        current = to_gray(image)
        reference = reference_of(work, image, frame_time)
        found += work.rules.exits(reference, current, work.detections, frame_time)
    return found


def fit_reference(work: CameraWork, reference: Gray, width: int, height: int) -> Gray:
    """The reference at the frame's size (cameras can change resolution)."""
    if reference.shape == (height, width):
        return reference
    log.warning(
        "camera %s: frame size %dx%d differs from the reference %dx%d; resizing it",
        work.name,
        width,
        height,
        reference.shape[1],
        reference.shape[0],
    )
    return np.asarray(cv2.resize(reference, (width, height)), np.float32)


class StoredReferences:
    """References from the store: captured from the first frame when none exists, reloaded when
    ``sitewatch calibrate`` replaces the file."""

    def __init__(self, store: ReferenceStore) -> None:
        self._store = store

    def __call__(self, work: CameraWork, image: Image, frame_time: float) -> Gray:
        """The reference of ``work``'s camera as a grey image of ``image``'s size."""
        stamp = self._store.stamp(work.name)
        if work.reference is not None and stamp != work.reference_stamp:
            log.info("camera %s: the reference image was replaced; using the new one", work.name)
            work.reference = None
        if work.reference is None:
            stored = self._store.load(work.name)
            if stored is None:
                stored = self._store.save(work.name, image, frame_time)
                log.info(
                    "camera %s: captured the reference image of the clear exits (%s)",
                    work.name,
                    stored.path,
                )
            work.reference = to_gray(stored.image)
            work.reference_stamp = self._store.stamp(work.name)
        height, width = image.shape[:2]
        work.reference = fit_reference(work, work.reference, width, height)
        return work.reference


class AnalysisLoop(threading.Thread):
    """Samples every camera at its rate and runs the rules; one thread for all cameras."""

    def __init__(
        self,
        cameras: list[CameraWork],
        alerts: AlertWorker,
        references: ReferenceStore,
        stop: threading.Event,
        detectors: DetectorStage | None = None,
        results: LatestResults | None = None,
        refresh: RulesRefresh = keep_rules,
    ) -> None:
        """``results`` receives what each analysed frame showed (the live view); ``refresh``
        gives each camera's work with its current zones (zones saved in the console apply
        from the next frame on)."""
        super().__init__(name="analysis", daemon=True)
        self._cameras = cameras
        self._results = results
        self._refresh = refresh
        self._alerts = alerts  # stores alerts on its own thread: a tick never waits for it
        self._reference_of = StoredReferences(references)
        self._stop_event = stop
        self._detectors = detectors
        self.frames_analysed = 0
        self._resume_open_alerts()

    def _resume_open_alerts(self) -> None:
        """Zones with an alert still open from before a restart start as blocked, so that
        the alert ends once the zone is seen clear instead of staying open forever."""
        open_zones: dict[str, set[str]] = {}
        for alert in self._alerts.open_alerts():
            open_zones.setdefault(alert.camera, set()).add(alert.zone)
        now = time.time()
        for work in self._cameras:
            work.rules.resume_blocked(open_zones.get(work.name, set()), now)

    def run(self) -> None:
        """Loop until stop: take the due frames, detect on them in one batch, run the rules."""
        while not self._stop_event.is_set():
            now = time.monotonic()
            self._cameras = [self._refresh(work) for work in self._cameras]
            due = self._take_due_frames(now)
            ticks = {w.name: w.detection_tick(f.image, now, f.wall_time) for w, f in due}
            fresh = self._detect([(w, f) for w, f in due if ticks[w.name] is Tick.INFER])
            for work, frame in due:
                try:
                    observations = analyse(
                        work,
                        frame.image,
                        now,
                        frame.wall_time,
                        ticks[work.name],
                        fresh.get(work.name),
                        self._reference_of,
                    )
                    if self._results is not None:
                        self._results.put(work.live_result(frame))
                    for observation in observations:
                        self._alerts.submit(observation, frame.image)
                    self._alerts.flush(frame.wall_time)
                except (ValueError, OSError, cv2.error) as error:
                    log.exception("camera %s: analysis failed: %s", frame.camera, error)
                self.frames_analysed += 1
            soonest = min((w.next_due for w in self._cameras), default=now + 0.1)
            self._stop_event.wait(min(max(soonest - time.monotonic(), 0.01), 0.1))

    def _take_due_frames(self, now: float) -> list[tuple[CameraWork, Frame]]:
        """The newest frame of each camera whose sample is due; a frame that waited in its
        slot longer than the camera's stall threshold (analysis held up) is skipped: it is no
        longer a live picture, and the reader's stale frames never reach the slot at all."""
        due: list[tuple[CameraWork, Frame]] = []
        for work in self._cameras:
            if now < work.next_due or work.reader is None:
                continue
            taken_at = time.monotonic()
            pending = work.reader.latest.take_newer_pending(work.last_index, taken_at)
            if pending is None:
                continue
            work.last_index = pending.index
            if taken_at - pending.monotonic > work.reader.settings.stall_timeout_s:
                work.stale_skipped += 1
                continue
            work.next_due = now + work.sample_period_s
            due.append((work, pending.to_frame()))
        return due

    def _detect(self, due: list[tuple[CameraWork, Frame]]) -> dict[str, Detections]:
        """One batched inference per model over every camera whose detection is due."""
        if self._detectors is None:
            return {}
        batch = {work.name: frame.image for work, frame in due}
        if not batch:
            return {}
        started = time.perf_counter()
        try:
            found = self._detectors.run(batch)
        except (ValueError, RuntimeError) as error:  # onnxruntime failures are RuntimeErrors
            log.exception("detector failed on %s: %s", ", ".join(batch), error)
            return {}
        share_ms = (time.perf_counter() - started) * 1000 / len(batch)
        for work, _ in due:
            work.record_inference(share_ms)
        return merged(found)

    def figures(self) -> dict[str, dict[str, float | int]]:
        """Per-camera analysis figures."""
        return {work.name: work.figures() for work in self._cameras}


def merged(found: Mapping[str, Mapping[str, Detections]]) -> dict[str, Detections]:
    """Each camera's detections of every model as one set."""
    return {camera: merge_detections(list(models.values())) for camera, models in found.items()}
