"""The analysis loop: newest frame per camera, motion gate, batched detection, rules, alerts.

``CameraWork`` holds one camera's schedule and rule states and ``analyse`` runs its rules on a
frame; the live ``AnalysisLoop`` and ``sitewatch replay`` share both, so a replayed video goes
through exactly the code that runs on the cameras.

Live, two threads share the work so that both cores are used: the ``analysis`` thread takes
each camera's frame when it is due (converts it, runs the motion gate) and runs the rules, the
exit checks and the alert hand-off on finished frames, while the ``analysis-inference`` thread
runs the detectors (ONNX Runtime releases the GIL) on every frame handed over while its
previous batch ran. Each camera's next sample is due one period after its previous due time
(not after a pass), and a camera has at most one frame between pickup and result: when the node
cannot keep every camera at its rate, every camera is slowed alike (each batch takes every
camera whose frame is due) and ``OverloadWatch`` says so once, with the numbers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

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
from ingest.status import CameraState
from sitewatch.analysis_rate import CameraRate, OverloadWatch, RateMeter
from sitewatch.live_results import ExitShare, LatestResults, LiveResult
from sitewatch.stage_cpu import StageCpu

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 1  # frames of one camera between pickup and result
RATE_CHECK_S = 1.0  # how often achieved rates are computed and judged


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
    stages: StageCpu | None = None,
) -> list[Observation]:
    """Run the camera's rules on one sampled frame.

    ``now`` schedules (monotonic live, video time in replay); ``frame_time`` stamps the
    observations. ``tick`` comes from ``CameraWork.detection_tick``; ``fresh`` are this frame's
    detections when it was inferred (None if inference failed: the rules skip the frame).
    ``stages`` (live) is charged the CPU of the detection rules and of the exit check.
    """

    def stage(name: str) -> Any:
        return nullcontext() if stages is None else stages.measure(name)

    found: list[Observation] = []
    height, width = image.shape[:2]
    if tick is Tick.INFER and fresh is not None:
        work.detections, work.detections_at = fresh, frame_time
    detected = tick is Tick.REUSE or (tick is Tick.INFER and fresh is not None)
    if detected and work.detections is not None:
        with stage("rules"):
            blank = is_featureless(image)
            found += work.rules.detections(
                work.detections, frame_time, (width, height), blank, image
            )
    if work.exit_period_s is not None and now >= work.next_exit_due:
        work.next_exit_due = now + work.exit_period_s
        with stage("exit check"):
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


@dataclass(frozen=True, slots=True)
class Sampled:
    """One camera's frame on its way from pickup to result."""

    camera: str
    frame: Frame
    tick: Tick
    now: float  # the schedule clock at pickup (``analyse``'s ``now``)


@dataclass(frozen=True, slots=True)
class Inferred:
    """A batch back from the detectors: its frames in pickup order, each inferred camera's
    detections, and the detector time per inferred frame."""

    frames: tuple[Sampled, ...]
    detections: dict[str, Detections]
    share_ms: float | None


@dataclass
class CameraPace:
    """How fast one camera is really analysed (the loop's runtime figures)."""

    configured_fps: float
    rate: RateMeter = field(default_factory=RateMeter)
    analysed: int = 0
    in_flight: int = 0
    achieved_fps: float = 0.0  # over the last seconds, updated by the analysis thread
    result_age_ms: float | None = None  # decode to detections and rules, last frame

    def figures(self) -> dict[str, float | int]:
        found: dict[str, float | int] = {
            "analysed": self.analysed,
            "configured_fps": round(self.configured_fps, 3),
            "achieved_fps": round(self.achieved_fps, 3),
        }
        if self.result_age_ms is not None:
            found["result_age_ms"] = round(self.result_age_ms, 1)
        return found


class InferenceWorker(threading.Thread):
    """Runs the detectors beside the analysis thread: every frame handed over while the
    previous batch ran forms the next batch, in order; results wait in ``take_results``."""

    def __init__(
        self, detectors: DetectorStage | None, stop: threading.Event, stages: StageCpu
    ) -> None:
        super().__init__(name="analysis-inference", daemon=True)
        self._detectors = detectors
        self._stop_event = stop
        self._stages = stages
        self._cond = threading.Condition()
        self._pending: list[Sampled] = []
        self._done: deque[Inferred] = deque()

    def submit(self, frames: Sequence[Sampled]) -> None:
        """Hand frames over (never blocks)."""
        with self._cond:
            self._pending.extend(frames)
            self._cond.notify_all()

    def take_results(self) -> list[Inferred]:
        """The batches finished since the last call, oldest first."""
        with self._cond:
            done = list(self._done)
            self._done.clear()
        return done

    def wait_for_results(self, timeout_s: float) -> None:
        """Sleep until a batch finishes or ``timeout_s`` passed."""
        with self._cond:
            if not self._done:
                self._cond.wait(timeout_s)

    def run(self) -> None:
        """Loop until stop: take what is pending, detect, hand the batch back."""
        while not self._stop_event.is_set():
            with self._cond:
                if not self._pending:
                    self._cond.wait(0.1)
                    continue
                batch, self._pending = tuple(self._pending), []
            with self._stages.measure("inference (letterbox, ONNX Runtime, decode)"):
                found, share_ms = self._detect(batch)
            with self._cond:
                self._done.append(Inferred(batch, found, share_ms))
                self._cond.notify_all()

    def _detect(self, batch: Sequence[Sampled]) -> tuple[dict[str, Detections], float | None]:
        """One batched inference per model over the frames whose detection is due."""
        frames = {s.camera: s.frame.image for s in batch if s.tick is Tick.INFER}
        if self._detectors is None or not frames:
            return {}, None
        started = time.perf_counter()
        try:
            found = self._detectors.run(frames)
        except (ValueError, RuntimeError) as error:  # onnxruntime failures are RuntimeErrors
            log.exception("detector failed on %s: %s", ", ".join(frames), error)
            return {}, None
        return merged(found), (time.perf_counter() - started) * 1000 / len(frames)


class AnalysisLoop(threading.Thread):
    """Samples every camera at its rate and runs the rules; the detectors run beside it on the
    ``analysis-inference`` thread (started and stopped with this one)."""

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
        self.stages = StageCpu()
        self._worker = InferenceWorker(detectors, stop, self.stages)
        self._pace = {w.name: CameraPace(1.0 / w.sample_period_s) for w in cameras}
        self.overload = OverloadWatch(time.monotonic())
        self._next_rate_check = 0.0
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
        """Loop until stop: rules on the finished frames, hand the due frames to the detectors."""
        self._worker.start()
        try:
            while not self._stop_event.is_set():
                self._cameras = [self._refresh(work) for work in self._cameras]
                for inferred in self._worker.take_results():
                    self._finish(inferred)
                now = time.monotonic()
                due = self._take_due_frames(now)
                if due:
                    with self.stages.measure("motion gate"):
                        sampled = [
                            Sampled(w.name, f, w.detection_tick(f.image, now, f.wall_time), now)
                            for w, f in due
                        ]
                    # frames without inference are done now: a camera has one frame in
                    # flight at most, so its frames still finish in order
                    self._worker.submit([x for x in sampled if x.tick is Tick.INFER])
                    rest = tuple(x for x in sampled if x.tick is not Tick.INFER)
                    if rest:
                        self._finish(Inferred(rest, {}, None))
                if now >= self._next_rate_check:
                    self._check_rates(now)
                waiting = [w.next_due for w in self._cameras if self._ready(w)]
                soonest = min(waiting, default=now + 0.1)
                self._worker.wait_for_results(min(max(soonest - time.monotonic(), 0.01), 0.1))
        finally:
            self._worker.join(2.0)

    def _ready(self, work: CameraWork) -> bool:
        return work.reader is not None and self._pace[work.name].in_flight < MAX_IN_FLIGHT

    def _take_due_frames(self, now: float) -> list[tuple[CameraWork, Frame]]:
        """The newest frame of each camera whose sample is due (longest due first) and that
        has no frame in flight; a frame that waited in its slot longer than the camera's stall
        threshold is skipped: it is no longer a live picture, and the reader's stale frames
        never reach the slot at all. The next sample is due one period after this one was
        (at once if that is past: no burst of catch-up samples)."""
        due: list[tuple[CameraWork, Frame]] = []
        waiting = [w for w in self._cameras if now >= w.next_due and self._ready(w)]
        for work in sorted(waiting, key=lambda w: w.next_due):
            assert work.reader is not None  # _ready
            taken_at = time.monotonic()
            pending = work.reader.latest.take_newer_pending(work.last_index, taken_at)
            if pending is None:
                continue
            work.last_index = pending.index
            if taken_at - pending.monotonic > work.reader.settings.stall_timeout_s:
                work.stale_skipped += 1
                continue
            work.next_due = max(work.next_due + work.sample_period_s, now)
            with self.stages.measure("conversion (decoded frame to numpy)"):
                frame = pending.to_frame()
            self._pace[work.name].in_flight += 1
            due.append((work, frame))
        return due

    def _finish(self, inferred: Inferred) -> None:
        """The rules on each frame of a batch back from the detectors, in pickup order."""
        works = {work.name: work for work in self._cameras}
        for sampled in inferred.frames:
            work, frame = works[sampled.camera], sampled.frame
            pace = self._pace[sampled.camera]
            pace.in_flight -= 1
            fresh = inferred.detections.get(sampled.camera)
            if fresh is not None and inferred.share_ms is not None:
                work.record_inference(inferred.share_ms)
            try:
                observations = analyse(
                    work,
                    frame.image,
                    sampled.now,
                    frame.wall_time,
                    sampled.tick,
                    fresh,
                    self._reference_of,
                    self.stages,
                )
                with self.stages.measure("evidence hand-off, live view"):
                    if self._results is not None:
                        self._results.put(work.live_result(frame))
                    for observation in observations:
                        self._alerts.submit(observation, frame.image)
                    self._alerts.flush(frame.wall_time)
            except (ValueError, OSError, cv2.error) as error:
                log.exception("camera %s: analysis failed: %s", frame.camera, error)
            finished = time.monotonic()
            pace.analysed += 1
            pace.rate.record(finished)
            pace.result_age_ms = (finished - frame.monotonic) * 1000
            self.frames_analysed += 1

    def _check_rates(self, now: float) -> None:
        """Each camera's achieved rate; the overload warning when the node cannot keep up."""
        self._next_rate_check = now + RATE_CHECK_S
        rates: list[CameraRate] = []
        ages: list[float] = []
        for work in self._cameras:
            pace = self._pace[work.name]
            pace.achieved_fps = pace.rate.rate(now)
            if work.reader is None:
                continue
            status = work.reader.status
            online = status.state is CameraState.ONLINE
            source = status.fps if online else 0.0
            rates.append(CameraRate(work.name, pace.configured_fps, pace.achieved_fps, source))
            if online and pace.result_age_ms is not None:
                ages.append(pace.result_age_ms)
        self.overload.check(rates, now, max(ages, default=None))

    def figures(self) -> dict[str, dict[str, float | int]]:
        """Per-camera analysis figures: the rules' counters, configured and achieved rates,
        frame age to the result."""
        return {
            work.name: {**work.figures(), **self._pace[work.name].figures()}
            for work in self._cameras
        }


def merged(found: Mapping[str, Mapping[str, Detections]]) -> dict[str, Detections]:
    """Each camera's detections of every model as one set."""
    return {camera: merge_detections(list(models.values())) for camera, models in found.items()}
