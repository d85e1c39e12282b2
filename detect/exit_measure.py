"""One exit-zone measurement for the blocked-exit rule: how blocked, or "cannot tell now".

- The zone is compared structurally with the reference image of the clear exit
  (``exit_compare.differing_fraction``: robust to lights switching).
- It must be static: when it changed a lot since the previous check (someone walking through,
  a forklift passing) the measurement is unknown, so passing traffic never counts.
- People in the zone make it unknown too: a ``person`` box (a person finder's, seen from any
  side) overlapping the zone, or a head or helmet detection standing for a person whose body
  (about one head width either side, seven heads down) overlaps it. People are not obstacles,
  and one standing in front of a pallet must not end the incident either.
- Detections of the zone's ``obstacle_classes`` (a user's model with a ``pallet`` class, say)
  count as blocked area: the share of the zone their boxes cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.vocabulary import HEAD, HELMET, PERSON
from detect.detections import Detections, FloatArray
from detect.exit_compare import Gray, differing_fraction
from detect.zone_filter import ZoneArea

HEAD_CLASSES = (HEAD, HELMET)
BODY_CLASSES = (PERSON,)


@dataclass(frozen=True, slots=True)
class ExitMeasureParams:
    """Thresholds of the measurement."""

    max_change_between_checks: float = 0.15  # share of the zone; above it the zone is moving
    min_person_overlap: float = 0.05  # share of a person's body box inside the zone
    # a head this sure is a person (models keep heads far below it for the hard-hat rule)
    min_person_confidence: float = 0.25
    head_classes: tuple[str, ...] = HEAD_CLASSES
    body_classes: tuple[str, ...] = BODY_CLASSES


@dataclass(frozen=True, slots=True)
class ExitMeasurement:
    """The blocked share (None: unknown now) and why."""

    blocked_fraction: float | None
    reason: str  # "compared", "moving", "people"
    obstacle_fraction: float = 0.0


def body_boxes(heads: FloatArray) -> FloatArray:
    """Rough body boxes below head boxes (n, 4): one head width each side, seven heads down."""
    width = heads[:, 2] - heads[:, 0]
    height = heads[:, 3] - heads[:, 1]
    return np.stack(
        [heads[:, 0] - width, heads[:, 1], heads[:, 2] + width, heads[:, 1] + 7 * height], axis=1
    ).astype(np.float32)


def zone_coverage(boxes: FloatArray, zone: ZoneArea) -> float:
    """Share (0..1) of the zone covered by the union of ``boxes``."""
    if not len(boxes):
        return 0.0
    covered = np.zeros_like(zone.mask)
    height, width = zone.mask.shape
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64):
        left, top = max(int(x1), 0), max(int(y1), 0)
        covered[top : min(int(np.ceil(y2)), height), left : min(int(np.ceil(x2)), width)] = True
    inside = int(zone.mask.sum())
    return float((covered & zone.mask).sum() / inside) if inside else 0.0


def measure_exit(
    reference: Gray,
    current: Gray,
    previous: Gray | None,
    zone: ZoneArea,
    detections: Detections | None,
    obstacle_classes: Sequence[str],
    params: ExitMeasureParams,
) -> ExitMeasurement:
    """How blocked ``zone`` is in ``current`` (grey images from ``exit_compare.to_gray``)."""
    if detections is not None and len(detections):
        people = detections[detections.confidence >= params.min_person_confidence]
        heads = people.of_class(*params.head_classes)
        bodies = np.concatenate(
            [body_boxes(heads.xyxy), people.of_class(*params.body_classes).xyxy]
        )
        if len(bodies) and (zone.overlap_share(bodies) >= params.min_person_overlap).any():
            return ExitMeasurement(None, "people")
    if previous is not None and previous.shape == current.shape:
        moving = differing_fraction(previous, current, zone.mask)
        if moving > params.max_change_between_checks:
            return ExitMeasurement(None, "moving")
    fraction = differing_fraction(reference, current, zone.mask)
    obstacles = 0.0
    if detections is not None and obstacle_classes:
        found = detections.of_class(*obstacle_classes)
        obstacles = zone_coverage(found.xyxy, zone)
    return ExitMeasurement(max(fraction, obstacles), "compared", obstacles)
