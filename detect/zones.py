"""Zone polygons on an image: pixel coordinates and masks."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.vocabulary import ZoneKind

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ZoneShape:
    """A named polygon; ``normalized`` points are fractions of width and height."""

    name: str
    kind: ZoneKind
    points: tuple[tuple[float, float], ...]
    normalized: bool = True

    def pixel_points(self, width: int, height: int) -> npt.NDArray[np.int32]:
        """Vertices in pixels of a ``width`` x ``height`` image (clipped to the image)."""
        points = np.asarray(self.points, dtype=np.float64)
        if self.normalized:
            points = points * np.array([width - 1, height - 1], dtype=np.float64)
        points[:, 0] = points[:, 0].clip(0, width - 1)
        points[:, 1] = points[:, 1].clip(0, height - 1)
        return np.round(points).astype(np.int32)

    def mask(self, width: int, height: int) -> Mask:
        """Boolean mask of the polygon, True inside."""
        canvas = np.zeros((height, width), dtype=np.uint8)
        cv2.fillPoly(canvas, [self.pixel_points(width, height)], 1)
        return canvas.astype(bool)
