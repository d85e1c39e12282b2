"""Which detections lie in which zone, vectorised over the detections.

Each rule tests its own anchor:

- heads (hard hat rule): the box centre must be inside the zone (``centers_inside``);
- fire and smoke (flame rule): the share of the box area inside the zone (``overlap_share``), so a
  fire whose box lies mostly in a ``flame_allowed`` zone is allowed;
- ``ignore`` zones remove, for every rule, each detection whose box centre is inside one of them
  (``drop_ignored``).

Zones are rasterised once per frame size (``ZoneArea.rasterise``); points are looked up in the
mask and box overlaps are read from the mask's integral image, so no test loops over pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.vocabulary import ZoneKind
from detect.detections import Detections, FloatArray
from detect.zones import Mask, ZoneShape

BoolArray = npt.NDArray[np.bool_]


def _integral(mask: Mask) -> npt.NDArray[np.int64]:
    """Summed-area table with a zero first row and column: (h + 1, w + 1)."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    return table


@dataclass(frozen=True, slots=True, eq=False)
class ZoneArea:
    """One zone rasterised for a ``width`` x ``height`` frame."""

    name: str
    kind: ZoneKind
    mask: Mask  # (height, width), True inside
    outline: tuple[tuple[int, int], ...]  # polygon in frame pixels (empty: the whole frame)
    integral: npt.NDArray[np.int64]  # (height + 1, width + 1) summed-area table of the mask

    @classmethod
    def rasterise(cls, zone: ZoneShape, width: int, height: int) -> ZoneArea:
        """The zone's mask and outline at this frame size."""
        mask = zone.mask(width, height)
        points = zone.pixel_points(width, height)
        outline = tuple((int(x), int(y)) for x, y in points)
        return cls(zone.name, zone.kind, mask, outline, _integral(mask))

    @classmethod
    def whole_frame(cls, name: str, kind: ZoneKind, width: int, height: int) -> ZoneArea:
        """A pseudo zone covering the frame (used when a camera has no zone of a kind)."""
        mask = np.ones((height, width), bool)
        return cls(name, kind, mask, (), _integral(mask))

    @property
    def resolution_wh(self) -> tuple[int, int]:
        """The frame size the zone was rasterised for."""
        return self.mask.shape[1], self.mask.shape[0]

    def contains(self, points_xy: FloatArray) -> BoolArray:
        """Whether each point (n, 2) in pixels is inside (points off the frame are not)."""
        width, height = self.resolution_wh
        points = np.floor(np.asarray(points_xy, np.float64).reshape(-1, 2)).astype(np.int64)
        x, y = points[:, 0], points[:, 1]
        on_frame = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        inside = np.zeros(len(points), bool)
        inside[on_frame] = self.mask[y[on_frame], x[on_frame]]
        return inside

    def overlap_share(self, xyxy: FloatArray) -> FloatArray:
        """Share (0..1) of each box's pixels (n, 4) that lie in the zone.

        A box covers the pixels its edges touch (floor of the top left, ceil of the bottom
        right), clipped to the frame; a box with no pixel on the frame has share 0."""
        width, height = self.resolution_wh
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        x1 = np.clip(np.floor(boxes[:, 0]), 0, width).astype(np.int64)
        y1 = np.clip(np.floor(boxes[:, 1]), 0, height).astype(np.int64)
        x2 = np.clip(np.ceil(boxes[:, 2]), 0, width).astype(np.int64)
        y2 = np.clip(np.ceil(boxes[:, 3]), 0, height).astype(np.int64)
        table = self.integral
        inside = table[y2, x2] - table[y1, x2] - table[y2, x1] + table[y1, x1]
        pixels = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        share = np.divide(inside, pixels, out=np.zeros(len(boxes), np.float64), where=pixels > 0)
        return np.asarray(share, np.float32)


def rasterise_zones(zones: Iterable[ZoneShape], width: int, height: int) -> list[ZoneArea]:
    """Every zone of a camera at one frame size (do it once per size and keep the result)."""
    return [ZoneArea.rasterise(zone, width, height) for zone in zones]


def of_kind(zones: Sequence[ZoneArea], kind: ZoneKind) -> list[ZoneArea]:
    """The zones of one kind, in order."""
    return [zone for zone in zones if zone.kind == kind]


def union(zones: Sequence[ZoneArea], name: str, kind: ZoneKind) -> ZoneArea | None:
    """One zone covering all of ``zones`` (None when there are none)."""
    if not zones:
        return None
    mask = np.logical_or.reduce([zone.mask for zone in zones])
    return ZoneArea(name, kind, mask, (), _integral(mask))


def centers_inside(detections: Detections, zone: ZoneArea) -> BoolArray:
    """Whether each detection's box centre is in ``zone``."""
    return zone.contains(detections.center)


def overlap_share(detections: Detections, zone: ZoneArea) -> FloatArray:
    """Share (0..1) of each detection's box inside ``zone``."""
    return zone.overlap_share(detections.xyxy)


def in_ignored(detections: Detections, zones: Sequence[ZoneArea]) -> BoolArray:
    """Whether each detection's box centre is in an ``ignore`` zone."""
    ignored = np.zeros(len(detections), bool)
    for zone in of_kind(zones, ZoneKind.IGNORE):
        ignored |= centers_inside(detections, zone)
    return ignored


def drop_ignored(detections: Detections, zones: Sequence[ZoneArea]) -> Detections:
    """The detections whose box centre is in no ``ignore`` zone."""
    return detections[~in_ignored(detections, zones)]
