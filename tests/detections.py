"""One way for tests to build `Detections`: rows of class name, confidence and box."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detect.detections import Detections

HAZARD_NAMES = ("fire", "smoke", "helmet", "head")

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
BoxRow = tuple[str, float, Box]  # class, confidence, box
SquareRow = tuple[str, float, float, float, float]  # class, confidence, centre x, centre y, side


def detections(
    rows: Sequence[BoxRow],
    names: tuple[str, ...] = HAZARD_NAMES,
    tracker_id: Sequence[int] | None = None,
) -> Detections:
    """Boxes given by class name, confidence and corners (no rows: empty)."""
    return Detections(
        np.array([box for _, _, box in rows], np.float32).reshape(-1, 4),
        np.array([confidence for _, confidence, _ in rows], np.float32),
        np.array([names.index(name) for name, _, _ in rows], np.int32),
        names,
        None if tracker_id is None else np.array(tracker_id, np.int32),
    )


def squares(rows: Sequence[SquareRow], names: tuple[str, ...] = HAZARD_NAMES) -> Detections:
    """Square boxes given by class name, confidence, centre and side."""
    return detections(
        [(n, c, (x - s / 2, y - s / 2, x + s / 2, y + s / 2)) for n, c, x, y, s in rows], names
    )
