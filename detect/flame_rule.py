"""Flame rule: pure (state, detections, time) -> (state, observations), one incident per camera.

A sampled frame *sights* flames when it has a ``fire`` or ``smoke`` detection above its class
threshold, at least ``min_area_fraction`` of the frame, whose centre is in no ``ignore`` zone and
whose box lies less than ``allowed_overlap`` inside the ``flame_allowed`` zones (welding, a
brazier). Flames are *confirmed* when ``confirm_frames`` of the last ``window_frames`` sampled
frames sight them; a one-frame false positive never is.

- START when confirmed: critical when fire itself is confirmed, a warning for smoke alone.
- UPDATE (critical) when fire is confirmed in a smoke-only incident, and each time the burning
  area is confirmed at ``growth_factor`` times the area it had when fire was confirmed (2x, 4x...).
- END when nothing has been confirmed for ``clear_s``; flames that flicker (confirmed, a gap,
  confirmed again within ``clear_s``) stay one incident.

The incident's zone is the camera-wide pseudo zone ``WHOLE_FRAME``: alerts are keyed by camera,
zone and hazard, so a camera has at most one open flame alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from statistics import median

import numpy as np
import numpy.typing as npt

from core.vocabulary import FIRE, SMOKE, WHOLE_FRAME, Hazard, Severity, ZoneKind
from detect.detections import Detections
from detect.flame_evidence import EvidenceParams
from detect.observations import Box, Observation, Phase
from detect.zone_filter import ZoneArea, drop_ignored, of_kind, union


@dataclass(frozen=True, slots=True)
class FlameParams:
    """Thresholds of the rule (frames are sampled frames)."""

    fire_threshold: float = 0.05  # chosen on held-out pictures: bench/operating_points.py
    smoke_threshold: float = 0.05
    min_area_fraction: float = 0.0005  # of the frame area, per box
    confirm_frames: int = 3  # k ...
    window_frames: int = 5  # ... of the last n frames
    allowed_overlap: float = 0.5  # boxes this much inside flame_allowed zones are allowed
    growth_factor: float = 2.0  # burning area this many times the first confirmed one escalates
    clear_s: float = 10.0
    fire_class: str = FIRE
    smoke_class: str = SMOKE
    # fire and smoke boxes must flicker or drift and stay put (detect/flame_evidence.py);
    # None: one frame's boxes are enough
    evidence: EvidenceParams | None = field(default_factory=EvidenceParams)

    def __post_init__(self) -> None:
        if not 1 <= self.confirm_frames <= self.window_frames:
            raise ValueError(
                f"need 1 <= confirm_frames ({self.confirm_frames}) <= window_frames "
                f"({self.window_frames})"
            )
        if self.growth_factor <= 1:
            raise ValueError(f"growth_factor must exceed 1, got {self.growth_factor}")


@dataclass(frozen=True, slots=True)
class FlameSighting:
    """The fire and smoke of one sampled frame that count (after thresholds and zones)."""

    fire_count: int = 0
    smoke_count: int = 0
    fire_area_fraction: float = 0.0  # summed fire box areas over the frame area (capped at 1)
    max_confidence: float = 0.0
    boxes: tuple[Box, ...] = ()

    @property
    def fire(self) -> bool:
        """Any fire counted."""
        return self.fire_count > 0

    @property
    def flames(self) -> bool:
        """Any fire or smoke counted."""
        return self.fire_count + self.smoke_count > 0


def flame_candidates(detections: Detections, params: FlameParams) -> npt.NDArray[np.bool_]:
    """Rows of ``detections`` that are fire or smoke above their class threshold."""
    labels = np.array(detections.labels, dtype=object)
    fire = (labels == params.fire_class) & (detections.confidence >= params.fire_threshold)
    smoke = (labels == params.smoke_class) & (detections.confidence >= params.smoke_threshold)
    return np.asarray(fire | smoke, np.bool_)


def sight_flames(
    detections: Detections,
    zones: Sequence[ZoneArea],
    resolution_wh: tuple[int, int],
    params: FlameParams,
) -> FlameSighting:
    """What one frame's detections show, with ``zones`` rasterised at ``resolution_wh``."""
    width, height = resolution_wh
    frame_area = float(width * height)
    found = drop_ignored(detections.of_class(params.fire_class, params.smoke_class), zones)
    labels = np.array(found.labels, dtype=object)
    is_fire = labels == params.fire_class
    threshold = np.where(is_fire, params.fire_threshold, params.smoke_threshold)
    keep = (found.confidence >= threshold) & (found.area >= params.min_area_fraction * frame_area)
    allowed = union(of_kind(zones, ZoneKind.FLAME_ALLOWED), "allowed", ZoneKind.FLAME_ALLOWED)
    if allowed is not None:
        keep &= allowed.overlap_share(found.xyxy) < params.allowed_overlap
    counted = found[keep]
    fire = is_fire[keep]
    boxes = tuple(
        Box(label, round(float(score), 4), *(round(float(v), 1) for v in xyxy))
        for label, score, xyxy in zip(counted.labels, counted.confidence, counted.xyxy, strict=True)
    )
    return FlameSighting(
        fire_count=int(fire.sum()),
        smoke_count=int((~fire).sum()),
        fire_area_fraction=min(float(counted.area[fire].sum()) / frame_area, 1.0),
        max_confidence=float(counted.confidence.max(initial=0.0)),
        boxes=boxes,
    )


class FlamePhase(StrEnum):
    """Where a camera stands."""

    QUIET = "quiet"
    BURNING = "burning"  # incident open


@dataclass(frozen=True, slots=True)
class FlameState:
    """The rule's memory for one camera."""

    phase: FlamePhase = FlamePhase.QUIET
    flames: tuple[bool, ...] = ()  # last window_frames: fire or smoke sighted
    fires: tuple[bool, ...] = ()  # last window_frames: fire sighted
    fire_areas: tuple[float, ...] = ()  # last window_frames: burning area fraction
    last_confirmed: float = 0.0  # when flames were last confirmed
    severity: Severity = Severity.WARNING
    fire_confirmed: bool = False  # fire (not only smoke) confirmed in this incident
    base_area: float = 0.0  # burning area when fire was confirmed
    next_growth: float = 0.0  # growth over base_area that escalates next
    score: float = 0.0  # latest confidence reported
    peak: float = 0.0  # highest confidence of the incident
    peak_area: float = 0.0  # largest burning area of the incident


def _details(sighting: FlameSighting, growth: float) -> dict[str, float | int | str]:
    details: dict[str, float | int | str] = {
        "max_confidence": round(sighting.max_confidence, 4),
        "fire_area_fraction": round(sighting.fire_area_fraction, 5),
        "smoke": int(sighting.smoke_count > 0),
        "fire_count": sighting.fire_count,
        "smoke_count": sighting.smoke_count,
        "count": sighting.fire_count + sighting.smoke_count,
    }
    if growth > 0:
        details["growth"] = round(growth, 2)
    return details


def advance_flames(
    state: FlameState, sighting: FlameSighting, now: float, params: FlameParams, camera: str
) -> tuple[FlameState, list[Observation]]:
    """Advance a camera by one sampled frame's sighting."""
    n, k = params.window_frames, params.confirm_frames
    area = sighting.fire_area_fraction if sighting.fire else 0.0
    current = replace(
        state,
        flames=(*state.flames, sighting.flames)[-n:],
        fires=(*state.fires, sighting.fire)[-n:],
        fire_areas=(*state.fire_areas, area)[-n:],
    )
    confirmed = sum(current.flames) >= k
    fire_confirmed = sum(current.fires) >= k

    def observe(phase: Phase, opened: FlameState, growth: float = 0.0) -> Observation:
        return Observation(
            camera,
            WHOLE_FRAME,
            Hazard.FLAME,
            phase,
            now,
            round(opened.score, 4),
            opened.severity,
            _details(sighting, growth),
            boxes=sighting.boxes,
        )

    def with_fire(opened: FlameState) -> FlameState:
        """Fire just confirmed: critical, and the area growth is measured from now on."""
        base = median([a for a in opened.fire_areas if a > 0] or [0.0])
        return replace(
            opened,
            severity=Severity.CRITICAL,
            fire_confirmed=True,
            base_area=base,
            next_growth=params.growth_factor,
        )

    match current.phase:
        case FlamePhase.QUIET:
            if not confirmed:
                return current, []
            score = sighting.max_confidence
            opened = replace(
                current,
                phase=FlamePhase.BURNING,
                last_confirmed=now,
                severity=Severity.WARNING,
                fire_confirmed=False,
                base_area=0.0,
                next_growth=0.0,
                score=score,
                peak=score,
                peak_area=area,
            )
            if fire_confirmed:
                opened = with_fire(opened)
            return opened, [observe(Phase.START, opened)]
        case FlamePhase.BURNING:
            if not confirmed:
                if now - current.last_confirmed >= params.clear_s:
                    peak_area = round(current.peak_area, 5)
                    end = replace(
                        observe(Phase.END, current),
                        score=round(current.peak, 4),
                        details={"count": 0, "peak_fire_area_fraction": peak_area},
                        boxes=(),
                    )
                    return replace(current, phase=FlamePhase.QUIET), [end]
                return current, []
            score = sighting.max_confidence or current.score
            current = replace(
                current,
                last_confirmed=now,
                score=score,
                peak=max(current.peak, score),
                peak_area=max(current.peak_area, area),
            )
            if fire_confirmed and not current.fire_confirmed:
                escalated = with_fire(current)
                return escalated, [observe(Phase.UPDATE, escalated)]
            if not current.fire_confirmed or current.base_area <= 0:
                return current, []
            # the burning area sustained in k of the last n frames, as a multiple of the base
            growth = sorted(current.fire_areas, reverse=True)[k - 1] / current.base_area
            if growth < current.next_growth:
                return current, []
            next_growth = current.next_growth
            while next_growth <= growth:
                next_growth *= params.growth_factor
            grown = replace(current, next_growth=next_growth)
            return grown, [observe(Phase.UPDATE, grown, growth)]
    raise AssertionError(f"unhandled phase {state.phase}")  # pragma: no cover


def flame_step(
    state: FlameState,
    detections: Detections,
    now: float,
    params: FlameParams,
    camera: str,
    zones: Sequence[ZoneArea],
    resolution_wh: tuple[int, int],
) -> tuple[FlameState, list[Observation]]:
    """Advance a camera by one sampled frame's detections (``zones``: the camera's zones
    rasterised at the frame size ``resolution_wh``; only ``ignore`` and ``flame_allowed`` are
    used)."""
    sighting = sight_flames(detections, zones, resolution_wh, params)
    return advance_flames(state, sighting, now, params, camera)
