"""Every rule of one camera, fed frame by frame: the same code runs live and in ``replay``.

``CameraRules.exits`` compares exit zones with the reference image (slow period, its own), and
``CameraRules.detections`` runs the tracker, the flame rule and the hard hat rule on a sampled
frame's detections. Both return observations with the zone outline attached; time is whatever
clock the caller uses (wall time live, video time in replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from core.geometry import nms
from core.vocabulary import ZoneKind
from detect.blocked_exit import BlockedExitParams, ExitState, ZonePhase, step
from detect.detections import Detections
from detect.engine import Image
from detect.exit_compare import Gray
from detect.exit_measure import ExitMeasureParams, measure_exit
from detect.flame_evidence import FlameEvidence
from detect.flame_rule import FlameParams, FlameState, flame_candidates, flame_step
from detect.hardhat_rule import HardhatParams, HardhatState, hardhat_step, hardhat_subjects
from detect.observations import Observation
from detect.tracker import TrackerParams, TrackerState, track
from detect.zone_filter import ZoneArea, rasterise_zones
from detect.zones import ZoneShape


@dataclass(frozen=True, slots=True)
class RuleParams:
    """Parameters of every rule of a camera (built from the site configuration)."""

    blocked_exit: BlockedExitParams = field(default_factory=BlockedExitParams)
    exit_measure: ExitMeasureParams = field(default_factory=ExitMeasureParams)
    flame: FlameParams | None = field(default_factory=FlameParams)  # None: rule off
    hardhat: HardhatParams | None = field(default_factory=HardhatParams)  # None: rule off
    tracker: TrackerParams = field(default_factory=TrackerParams)


@dataclass
class ExitWatch:
    """One exit zone's rule state and previous grey image."""

    zone: ZoneShape
    obstacle_classes: tuple[str, ...] = ()
    state: ExitState = field(default_factory=ExitState)
    previous: Gray | None = None
    last_reason: str = ""
    last_blocked_fraction: float | None = None  # of the last check (None: not judged)


@dataclass
class CameraRules:
    """Rule states of one camera."""

    camera: str
    zones: Sequence[ZoneShape]
    params: RuleParams
    obstacle_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exit_watches: list[ExitWatch] = field(default_factory=list)
    tracker: TrackerState = field(default_factory=TrackerState.empty)
    flame: FlameState = field(default_factory=FlameState)
    flame_evidence: FlameEvidence | None = None
    hardhat: HardhatState = field(default_factory=HardhatState)
    _areas: list[ZoneArea] = field(default_factory=list)
    _size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        flame = self.params.flame
        if flame is not None and flame.evidence is not None:
            self.flame_evidence = FlameEvidence(flame.evidence)
        self.exit_watches = [
            ExitWatch(zone, self.obstacle_classes.get(zone.name, ()))
            for zone in self.zones
            if zone.kind == ZoneKind.EXIT
        ]

    @property
    def has_detection_rules(self) -> bool:
        """Whether the flame or hard hat rule is on."""
        return self.params.flame is not None or self.params.hardhat is not None

    def resume_blocked(self, zone_names: set[str], now: float) -> None:
        """Exit zones whose alert is still open (after a restart) start as blocked."""
        for watch in self.exit_watches:
            if watch.zone.name in zone_names:
                watch.state = ExitState(ZonePhase.BLOCKED, now)

    def areas(self, width: int, height: int) -> list[ZoneArea]:
        """The zones rasterised at this frame size (cached)."""
        if self._size != (width, height):
            self._areas = rasterise_zones(self.zones, width, height)
            self._size = (width, height)
        return self._areas

    def exits(
        self,
        reference: Gray,
        current: Gray,
        detections: Detections | None,
        now: float,
    ) -> list[Observation]:
        """One exit check of every exit zone (grey images from ``exit_compare.to_gray``)."""
        height, width = current.shape
        areas = {area.name: area for area in self.areas(width, height)}
        found: list[Observation] = []
        for watch in self.exit_watches:
            area = areas[watch.zone.name]
            measured = measure_exit(
                reference,
                current,
                watch.previous,
                area,
                detections,
                watch.obstacle_classes,
                self.params.exit_measure,
            )
            watch.previous = current
            watch.last_reason = measured.reason
            watch.last_blocked_fraction = measured.blocked_fraction
            watch.state, observations = step(
                watch.state,
                measured.blocked_fraction,
                now,
                self.params.blocked_exit,
                self.camera,
                watch.zone.name,
            )
            found += [replace(o, outline=area.outline) for o in observations]
        return found

    def detections(
        self,
        detections: Detections,
        now: float,
        resolution_wh: tuple[int, int],
        featureless: bool = False,
        image: Image | None = None,
    ) -> list[Observation]:
        """The flame and hard hat rules on one sampled frame's detections. On a ``featureless``
        frame (covered or black camera, which the detector reads as smoke) the flame rule sees
        nothing. With the frame's ``image``, fire and smoke boxes count only when the temporal
        evidence says they live (``detect.flame_evidence``; without it, as they are)."""
        width, height = resolution_wh
        areas = self.areas(width, height)
        outlines = {area.name: area.outline for area in areas}
        found: list[Observation] = []
        if self.params.flame is not None:
            seen = Detections.empty(detections.class_names) if featureless else detections
            if image is not None and self.flame_evidence is not None:
                seen = self._living_flames(seen, image, now)
            self.flame, observations = flame_step(
                self.flame, seen, now, self.params.flame, self.camera, areas, resolution_wh
            )
            found += observations
        if self.params.hardhat is not None:
            subjects = hardhat_subjects(detections, self.params.hardhat)  # heads and people
            self.tracker, tracked = track(self.tracker, subjects, now, self.params.tracker)
            self.hardhat, observations = hardhat_step(
                self.hardhat,
                tracked,
                now,
                self.params.hardhat,
                self.camera,
                areas,
                resolution_wh,
            )
            found += [replace(o, outline=outlines.get(o.zone, ())) for o in observations]
        return found

    def _living_flames(self, detections: Detections, image: Image, now: float) -> Detections:
        """``detections`` without the fire and smoke boxes that do not live."""
        assert self.flame_evidence is not None and self.params.flame is not None
        candidate = flame_candidates(detections, self.params.flame)
        rows = np.flatnonzero(candidate)
        evidence = self.flame_evidence.check(image, detections[rows], now)
        keep = ~candidate
        keep[rows[evidence.alive]] = True
        return detections[keep]


SAME_OBJECT_IOU = 0.5  # boxes of one class from two models overlapping this much: one object


def merge_detections(parts: Sequence[Detections]) -> Detections:
    """Detections of several models as one set over the union of their class names. Where two
    models (or one model at two sizes) found the same object — same class, boxes overlapping
    ``SAME_OBJECT_IOU`` — the more confident box stays: a fire is not counted twice, nor a
    person tracked twice."""
    if len(parts) == 1:
        return parts[0]
    names: list[str] = []
    for part in parts:
        names += [name for name in part.class_names if name not in names]
    if not parts:
        return Detections.empty()
    remapped = [
        np.array([names.index(part.name_of(int(c))) for c in part.class_id], np.int32)
        for part in parts
    ]
    merged = Detections(
        np.concatenate([part.xyxy for part in parts]).astype(np.float32),
        np.concatenate([part.confidence for part in parts]).astype(np.float32),
        np.concatenate(remapped).astype(np.int32),
        tuple(names),
    )
    if len(merged) < 2:
        return merged
    span = float(merged.xyxy.max()) + 1.0  # class offsets keep classes apart in one NMS
    offset = merged.xyxy + (merged.class_id.astype(np.float32) * span)[:, None]
    return merged[np.array(sorted(nms(offset, merged.confidence, SAME_OBJECT_IOU)))]
