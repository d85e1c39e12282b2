"""Temporal evidence for the flame rule: a fire or smoke box must *live*.

One frame's opinion is not enough: on real cameras the detector puts smoke boxes on plain walls,
floors and asphalt and fire boxes on apples and sleeves. What tells those apart from a real fire is
time. Flames flicker and smoke drifts, so most of the pixels inside their box change from one
sampled frame to the next, and the box stays where it burns; a wall does not change, a hand
passing in front of a wall changes a corner of a large box, and a fruit on a belt or a car takes
its box along.

For each candidate box, on grey frames scaled to ``width`` pixels (a few crops per sampled frame):

- ``change``: the median absolute grey difference inside the box between this sampled frame and
  the previous one (0..255), less the whole frame's median difference (camera noise, compression
  and lighting drift count against every box alike). The median, not the mean: a flame changes
  most of its box, a hand crossing a wall box only a part of it;
- ``stay``: the box's best IoU with the previous frame's candidate boxes.

A box is *alive* when ``change >= min_change`` and ``stay >= min_stay``, unless it lies where the
detector has been seeing dead boxes: the check keeps a coarse map of the frame (cells of
``cell_px``) counting, with a ``memory_s`` time constant, the candidate boxes found dead and alive
on each cell; a box whose cells hold at least ``max_static`` dead counts of all (and at least
``MIN_STATIC_COUNT`` of them) is the detector's standing mistake on the scene — a wall it calls
smoke — and a hand or a person passing in front of it does not make it a fire. A fire that starts
where nothing was seen counts from its first living frame. A box scored at least
``strong_confidence`` needs no temporal evidence. The first frame of a camera, or one after a gap
longer than ``max_gap_s``, has no reference: its doubtful boxes are not alive.
Chosen by measurement: ``python -m bench.flame_evidence`` (hazard-free ``use: train`` clips
against the fire sequences of the training and validation photos).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.geometry import box_iou
from detect.detections import Detections

Grey = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float32]
MIN_SIDE_PX = 6  # a crop this small (in the scaled frame) is grown to it
MIN_STATIC_COUNT = 3.0  # dead sightings (decayed) per cell before a place can be standing


@dataclass(frozen=True, slots=True)
class EvidenceParams:
    """When a fire or smoke box counts as alive."""

    width: int = 320  # the scaled grey frame the check works on
    min_change: float = 2.0  # grey levels above the frame's median change
    min_stay: float = 0.2  # IoU with a candidate box of the previous sampled frame
    strong_confidence: float = 1.0  # boxes at least this confident skip the check (1: none)
    max_gap_s: float = 3.0  # a previous frame older than this is no reference
    cell_px: int = 8  # cells of the map of dead and living boxes (in the scaled frame)
    memory_s: float = 60.0  # time constant of that map
    max_static: float = 0.7  # share of dead counts over a box's cells that makes it standing

    def __post_init__(self) -> None:
        if self.width < 32:
            raise ValueError(f"width must be at least 32 pixels, got {self.width}")


@dataclass(frozen=True, slots=True, eq=False)
class BoxEvidence:
    """Per box (rows of the checked detections): the measurements and the verdict."""

    change: FloatArray
    stay: FloatArray
    static: FloatArray  # share of dead counts over the box's cells (0 where none were seen)
    alive: npt.NDArray[np.bool_]


def scaled_grey(image: npt.NDArray[np.uint8], width: int) -> tuple[Grey, float]:
    """The frame as float grey ``width`` pixels wide (lightly blurred), and the scale used."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    scale = width / grey.shape[1]
    height = max(1, round(grey.shape[0] * scale))
    small = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small, (3, 3), 0), np.float32), scale


def crop_bounds(
    xyxy: FloatArray, scale: float, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A box (frame pixels) as (left, top, right, bottom) in a scaled frame of ``shape``,
    at least ``MIN_SIDE_PX`` on each side where the frame allows."""
    height, width = shape
    x1, y1, x2, y2 = (float(v) * scale for v in xyxy)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = max(x2 - x1, MIN_SIDE_PX) / 2, max(y2 - y1, MIN_SIDE_PX) / 2
    left, right = max(0, round(cx - half_w)), min(width, round(cx + half_w))
    top, bottom = max(0, round(cy - half_h)), min(height, round(cy + half_h))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def box_change(previous: Grey, current: Grey, xyxy: FloatArray, scale: float) -> FloatArray:
    """``change`` of each box between two scaled grey frames of the same size."""
    change = np.zeros(len(xyxy), np.float32)
    if not len(xyxy):
        return change
    baseline = float(np.median(np.abs(current - previous)))
    for row, box in enumerate(xyxy):
        left, top, right, bottom = crop_bounds(box, scale, current.shape)
        now, before = current[top:bottom, left:right], previous[top:bottom, left:right]
        # a brightness shift of the whole box (exposure, a light) is not a change of content
        shifted = np.abs((now - now.mean()) - (before - before.mean()))
        change[row] = float(np.median(shifted)) - baseline
    return change


def box_stay(previous: FloatArray, boxes: FloatArray) -> FloatArray:
    """Each box's best IoU with the previous frame's boxes (0 when there were none)."""
    if not len(previous) or not len(boxes):
        return np.zeros(len(boxes), np.float32)
    return np.asarray(box_iou(boxes, previous).max(axis=1), np.float32)


class FlameEvidence:
    """One camera's memory for the check: the previous sampled frame and its candidate boxes."""

    def __init__(self, params: EvidenceParams) -> None:
        self.params = params
        self._previous: Grey | None = None
        self._previous_at = 0.0
        self._previous_boxes: FloatArray = np.zeros((0, 4), np.float32)
        self._dead: FloatArray | None = None  # per cell, decayed counts
        self._living: FloatArray | None = None
        self._memory_at = 0.0

    def check(
        self, image: npt.NDArray[np.uint8], candidates: Detections, now: float
    ) -> BoxEvidence:
        """The evidence of ``candidates`` (this frame's fire and smoke boxes); the frame and
        its boxes become the next check's reference."""
        params = self.params
        current, scale = scaled_grey(image, params.width)
        previous, previous_boxes = self._previous, self._previous_boxes
        usable = (
            previous is not None
            and previous.shape == current.shape
            and 0 <= now - self._previous_at <= params.max_gap_s
        )
        self._previous, self._previous_at = current, now
        self._previous_boxes = candidates.xyxy
        if usable and previous is not None:
            change = box_change(previous, current, candidates.xyxy, scale)
            stay = box_stay(previous_boxes, candidates.xyxy)
        else:
            change = np.zeros(len(candidates), np.float32)
            stay = np.zeros(len(candidates), np.float32)
        moving = (change >= params.min_change) & (stay >= params.min_stay)
        cells = [self._cells(box, scale, current.shape) for box in candidates.xyxy]
        static = self._remember(cells, moving, current.shape, now, usable)
        alive = moving & (static < params.max_static)
        alive |= candidates.confidence >= params.strong_confidence
        return BoxEvidence(change, stay, static, alive)

    def _cells(self, box: FloatArray, scale: float, shape: tuple[int, int]) -> tuple[slice, slice]:
        left, top, right, bottom = crop_bounds(box, scale, shape)
        size = self.params.cell_px
        return slice(top // size, -(-bottom // size)), slice(left // size, -(-right // size))

    def _remember(
        self,
        cells: list[tuple[slice, slice]],
        moving: npt.NDArray[np.bool_],
        shape: tuple[int, int],
        now: float,
        measured: bool,
    ) -> FloatArray:
        """Each box's static share (before this frame), then this frame's boxes recorded."""
        size = self.params.cell_px
        grid = (-(-shape[0] // size), -(-shape[1] // size))
        if self._dead is None or self._living is None or self._dead.shape != grid:
            self._dead, self._living = np.zeros(grid, np.float32), np.zeros(grid, np.float32)
            self._memory_at = now
        decay = np.float32(np.exp(-max(0.0, now - self._memory_at) / self.params.memory_s))
        self._memory_at = now
        self._dead *= decay
        self._living *= decay
        static = np.zeros(len(cells), np.float32)
        for row, (rows, columns) in enumerate(cells):
            dead = float(self._dead[rows, columns].sum())
            living = float(self._living[rows, columns].sum())
            area = max(1, self._dead[rows, columns].size)
            if dead / area >= MIN_STATIC_COUNT:
                static[row] = dead / (dead + living)
        if measured:
            for (rows, columns), alive in zip(cells, moving, strict=True):
                target = self._living if alive else self._dead
                target[rows, columns] += 1.0
        return static
