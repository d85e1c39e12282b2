"""Which detections lie in which zone, vectorised over the detections.

Each rule tests its own anchor:

- heads (hard hat rule): the box centre must be inside the zone (``centers_inside``);
- fire and smoke (flame rule): the share of the box area inside the zone (``overlap_share``), so a
  fire whose box lies mostly in a ``flame_allowed`` zone is allowed;
- ``ignore`` zones remove, for every rule, each detection whose box centre is inside one of them
  (``drop_ignored``).

Zones are rasterised once per frame size (``ZoneArea.rasterise``); points are looked up in the
mask and box overlaps are read from the mask's summed-area table (over the zone's bounding
box), so no test loops over pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.vocabulary import ZoneKind
from detect.detections import Detections, FloatArray
from detect.zones import Mask, ZoneShape

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class PixelCounts:
    """How many pixels of a mask lie in any box: a summed-area table of the mask over its
    bounding box only (outside it the mask is empty), int32 when the frame allows. A 720p
    frame's full table in int64 took 7.4 MB per zone; an exit zone's now about 1 MB."""

    table: npt.NDArray[np.signedinteger[Any]]  # (rows + 1, cols + 1), zero first row and column
    left: int
    top: int

    @classmethod
    def of(cls, mask: Mask) -> PixelCounts:
        """The counts of ``mask`` (height, width)."""
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        dtype: type[np.signedinteger[Any]] = (
            np.int32 if mask.size <= np.iinfo(np.int32).max else np.int64
        )
        if rows.size == 0:
            return cls(np.zeros((1, 1), dtype), 0, 0)
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        left, right = int(cols[0]), int(cols[-1]) + 1
        table = np.zeros((bottom - top + 1, right - left + 1), dtype)
        crop = mask[top:bottom, left:right]
        np.cumsum(crop, axis=0, dtype=dtype, out=table[1:, 1:])
        np.cumsum(table[1:, 1:], axis=1, out=table[1:, 1:])
        return cls(table, left, top)

    def inside(
        self,
        x1: npt.NDArray[np.int64],
        y1: npt.NDArray[np.int64],
        x2: npt.NDArray[np.int64],
        y2: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """Mask pixels in each box ``[x1, x2) x [y1, y2)`` (frame pixels, x1 <= x2, y1 <= y2)."""
        rows, cols = self.table.shape[0] - 1, self.table.shape[1] - 1
        x1, x2 = (np.clip(x - self.left, 0, cols) for x in (x1, x2))
        y1, y2 = (np.clip(y - self.top, 0, rows) for y in (y1, y2))
        table = self.table
        counted = table[y2, x2] - table[y1, x2] - table[y2, x1] + table[y1, x1]
        return np.asarray(counted, np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class ZoneArea:
    """One zone rasterised for a ``width`` x ``height`` frame."""

    name: str
    kind: ZoneKind
    mask: Mask  # (height, width), True inside
    outline: tuple[tuple[int, int], ...]  # polygon in frame pixels (empty: the whole frame)
    counts: PixelCounts  # the mask's pixels in any box

    @classmethod
    def rasterise(cls, zone: ZoneShape, width: int, height: int) -> ZoneArea:
        """The zone's mask and outline at this frame size."""
        mask = zone.mask(width, height)
        points = zone.pixel_points(width, height)
        outline = tuple((int(x), int(y)) for x, y in points)
        return cls(zone.name, zone.kind, mask, outline, PixelCounts.of(mask))

    @classmethod
    def whole_frame(cls, name: str, kind: ZoneKind, width: int, height: int) -> ZoneArea:
        """A pseudo zone covering the frame (used when a camera has no zone of a kind)."""
        mask = np.ones((height, width), bool)
        return cls(name, kind, mask, (), PixelCounts.of(mask))

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
        inside = self.counts.inside(x1, y1, x2, y2)
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
    return ZoneArea(name, kind, mask, (), PixelCounts.of(mask))


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
