"""What the analysis saw last on each camera, for the console's live view: the frame's size
and time, the detections, the zones the rules used and each exit zone's blocked share.

The analysis thread puts references to what it already has (no copy, no drawing, no encoding);
the API turns them into the live view's JSON only for the cameras someone watches. Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detect.detections import Detections
from detect.zones import ZoneShape


@dataclass(frozen=True, slots=True)
class ExitShare:
    """One exit zone's last check: the blocked share (None: not judged now) and why."""

    zone: str
    blocked_fraction: float | None
    reason: str  # "compared", "moving", "people" (detect.exit_measure)


@dataclass(frozen=True, slots=True)
class LiveResult:
    """The analysis of one camera's latest sampled frame."""

    camera: str
    frame_time: float  # wall clock of the frame analysed
    width: int
    height: int
    detections: Detections | None  # in frame pixels; None before the first inference
    detections_at: float | None  # the frame time they were found on (reused while still)
    zones: Sequence[ZoneShape]
    exits: tuple[ExitShare, ...] = ()

    def overlay(self) -> dict[str, Any]:
        """As the live view draws it: boxes and zone points as fractions of the picture."""
        boxes: list[dict[str, Any]] = []
        found = self.detections
        if found is not None and self.width > 0 and self.height > 0:
            scale = (self.width, self.height, self.width, self.height)
            for row in range(len(found)):
                box = [round(float(v) / s, 4) for v, s in zip(found.xyxy[row], scale, strict=True)]
                boxes.append(
                    {
                        "class": found.name_of(int(found.class_id[row])),
                        "score": round(float(found.confidence[row]), 3),
                        "box": box,
                    }
                )
        zones = []
        for zone in self.zones:
            points = (
                [[round(x, 4), round(y, 4)] for x, y in zone.points]
                if zone.normalized
                else [
                    [round(x / max(self.width - 1, 1), 4), round(y / max(self.height - 1, 1), 4)]
                    for x, y in zone.points
                ]
            )
            zones.append({"name": zone.name, "kind": str(zone.kind), "points": points})
        return {
            "analysed_at": self.frame_time,
            "detections": boxes,
            "detections_at": self.detections_at,
            "zones": zones,
            "exits": [
                {
                    "zone": e.zone,
                    "blocked_fraction": None
                    if e.blocked_fraction is None
                    else round(e.blocked_fraction, 3),
                    "reason": e.reason,
                }
                for e in self.exits
            ],
        }


class LatestResults:
    """The latest ``LiveResult`` per camera."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, LiveResult] = {}

    def put(self, result: LiveResult) -> None:
        """Replace the camera's result."""
        with self._lock:
            self._results[result.camera] = result

    def get(self, camera: str) -> LiveResult | None:
        """The camera's latest result (None before its first analysed frame)."""
        with self._lock:
            return self._results.get(camera)
