"""Box and polygon geometry, the one definition the detectors, rules, lab and config checks use.

Boxes are ``(n, 4)`` arrays of ``x1, y1, x2, y2`` in pixels; a box with ``x2 < x1`` or
``y2 < y1`` has no area. Polygons are sequences of ``(x, y)`` vertices in order, closed by the
edge from the last vertex back to the first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Boxes = npt.NDArray[np.floating]
Point = tuple[float, float]


def box_area(xyxy: Boxes) -> npt.NDArray[np.float64]:
    """Area of each box (n,), 0 for an empty one."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    return np.asarray(wh[:, 0] * wh[:, 1], np.float64)


def box_centers(xyxy: Boxes) -> npt.NDArray[np.float64]:
    """Centre of each box (n, 2)."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return np.asarray((boxes[:, :2] + boxes[:, 2:]) / 2, np.float64)


def box_iou(a: Boxes, b: Boxes) -> npt.NDArray[np.float64]:
    """Intersection over union of every box in ``a`` (n, 4) with every box in ``b`` (m, 4):
    (n, m), 0 where the union is empty."""
    a64 = np.asarray(a, np.float64).reshape(-1, 4)
    b64 = np.asarray(b, np.float64).reshape(-1, 4)
    top_left = np.maximum(a64[:, None, :2], b64[None, :, :2])
    bottom_right = np.minimum(a64[:, None, 2:], b64[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a64)[:, None] + box_area(b64)[None, :] - inter
    iou: npt.NDArray[np.float64] = np.divide(
        inter, union, out=np.zeros_like(inter), where=union > 0
    )
    return iou


def nms(boxes: Boxes, scores: npt.NDArray[np.floating], iou: float) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first (ties: the earlier box);
    a box is dropped when its IoU with a kept one is above ``iou``."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        overlap = box_iou(boxes[best : best + 1], boxes[rest])[0]
        order = rest[overlap <= iou]
    return keep


def _orientation(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """True when two segments properly intersect (touching at an end does not count)."""
    d1, d2 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    d3, d4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def polygon_area(points: Sequence[Point]) -> float:
    """Absolute area by the shoelace formula."""
    closed = list(points)
    twice = 0.0
    for (x1, y1), (x2, y2) in zip(closed, closed[1:] + closed[:1], strict=True):
        twice += x1 * y2 - x2 * y1
    return abs(twice) / 2.0


def self_intersection(points: Sequence[Point]) -> tuple[int, int] | None:
    """Indices of two edges that cross, or None for a simple polygon (edge i runs from vertex i
    to vertex i + 1)."""
    closed = list(points)
    edges = list(zip(closed, closed[1:] + closed[:1], strict=True))
    n = len(edges)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge
            if segments_cross(*edges[i], *edges[j]):
                return i, j
    return None
