"""Which detections fall in which zone."""

from __future__ import annotations

import numpy as np
import pytest

from core.vocabulary import ZoneKind
from detect.detections import Detections
from detect.zone_filter import (
    PixelCounts,
    ZoneArea,
    centers_inside,
    drop_ignored,
    of_kind,
    overlap_share,
    rasterise_zones,
    union,
)
from detect.zones import ZoneShape
from tests.detections import detections

W, H = 200, 100
NAMES = ("fire", "head")
# the left half of the frame, in pixels: columns 0..99
LEFT = ZoneShape(
    "left", ZoneKind.FLAME_ALLOWED, ((0, 0), (99, 0), (99, 99), (0, 99)), normalized=False
)
# a normalised square in the right part: about x 150..190, y 10..50
RIGHT = ZoneShape("right", ZoneKind.IGNORE, ((0.75, 0.1), (0.95, 0.1), (0.95, 0.5), (0.75, 0.5)))
# a trapezoid off every edge, like bench.pipeline's exit zone
MIDDLE = ZoneShape("middle", ZoneKind.EXIT, ((0.55, 0.45), (0.85, 0.45), (0.95, 0.98), (0.5, 0.98)))


def boxes(*xyxy: tuple[float, float, float, float]) -> Detections:
    return detections([(NAMES[0], 0.9, box) for box in xyxy], NAMES)


@pytest.mark.parametrize(
    ("box", "inside"),
    [
        pytest.param((10, 10, 30, 30), True, id="well inside"),
        pytest.param((80, 10, 118, 30), True, id="centre at x=99"),
        pytest.param((90, 10, 130, 30), False, id="centre just outside"),
        pytest.param((150, 40, 170, 60), False, id="far outside"),
        pytest.param((-50, -50, -10, -10), False, id="off the frame"),
    ],
)
def test_centres_inside(box: tuple[float, float, float, float], inside: bool) -> None:
    zone = ZoneArea.rasterise(LEFT, W, H)
    assert centers_inside(boxes(box), zone).tolist() == [inside]


@pytest.mark.parametrize(
    ("box", "share"),
    [
        pytest.param((10, 10, 30, 30), 1.0, id="inside"),
        pytest.param((80, 0, 120, 10), 0.5, id="half inside"),
        pytest.param((50, 90, 150, 130), 0.5, id="clipped by the frame bottom, half inside"),
        pytest.param((100, 0, 150, 50), 0.0, id="outside, touching the edge"),
        pytest.param((300, 0, 350, 50), 0.0, id="off the frame"),
        pytest.param((10, 10, 10, 10), 0.0, id="empty box"),
    ],
)
def test_overlap_share(box: tuple[float, float, float, float], share: float) -> None:
    zone = ZoneArea.rasterise(LEFT, W, H)
    assert overlap_share(boxes(box), zone).tolist() == [pytest.approx(share)]


@pytest.mark.parametrize("shape", [LEFT, RIGHT, MIDDLE], ids=lambda shape: shape.name)
def test_overlap_share_matches_counting_pixels(shape: ZoneShape) -> None:
    """The summed-area table gives what summing the mask over each box gives."""
    zone = ZoneArea.rasterise(shape, W, H)
    rng = np.random.default_rng(7)
    corners = rng.integers(-20, 220, size=(200, 2, 2))
    xyxy = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(np.float32)
    shares = zone.overlap_share(xyxy)
    for (x1, y1, x2, y2), share in zip(xyxy.astype(int), shares, strict=True):
        window = zone.mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
        expected = window.mean() if window.size else 0.0
        assert share == pytest.approx(expected, abs=1e-6)


def test_pixel_counts_cover_only_the_zone_bounding_box() -> None:
    """A 720p exit zone's table spans the zone, not the frame (the frame's in int64 took
    7.4 MB per zone and camera)."""
    zone = ZoneArea.rasterise(MIDDLE, 1280, 720)
    rows = np.flatnonzero(zone.mask.any(axis=1))
    cols = np.flatnonzero(zone.mask.any(axis=0))
    table = zone.counts.table
    assert table.shape == (rows[-1] - rows[0] + 2, cols[-1] - cols[0] + 2)
    assert (zone.counts.left, zone.counts.top) == (cols[0], rows[0])
    assert table.dtype == np.int32
    assert table.nbytes < 721 * 1281 * 8 / 6
    assert table[-1, -1] == zone.mask.sum()


def test_a_zone_without_pixels_overlaps_nothing() -> None:
    mask = np.zeros((H, W), bool)
    zone = ZoneArea("empty", ZoneKind.EXIT, mask, (), PixelCounts.of(mask))
    assert zone.counts.table.shape == (1, 1)
    assert overlap_share(boxes((0, 0, W, H), (10, 10, 30, 30)), zone).tolist() == [0.0, 0.0]


def test_ignore_zones_drop_detections_centred_in_them() -> None:
    zones = rasterise_zones([LEFT, RIGHT], W, H)
    found = boxes((10, 10, 30, 30), (160, 20, 180, 40), (120, 20, 170, 40))
    kept = drop_ignored(found, zones)
    # only the box centred in the ignore zone goes; the flame_allowed zone removes nothing
    assert kept.xyxy[:, 0].tolist() == [10, 120]  # centre x 145: left of the zone (149)


def test_no_ignore_zone_keeps_everything() -> None:
    found = boxes((10, 10, 30, 30), (160, 20, 180, 40))
    assert len(drop_ignored(found, rasterise_zones([LEFT], W, H))) == 2


def test_union_and_kinds() -> None:
    zones = rasterise_zones([LEFT, RIGHT], W, H)
    assert [z.name for z in of_kind(zones, ZoneKind.IGNORE)] == ["right"]
    assert union([], "none", ZoneKind.IGNORE) is None
    both = union(zones, "both", ZoneKind.FLAME_ALLOWED)
    assert both is not None
    assert both.mask.sum() == zones[0].mask.sum() + zones[1].mask.sum()
    assert overlap_share(boxes((90, 10, 110, 30), (150, 20, 190, 40)), both).tolist() == [
        pytest.approx(0.5),
        pytest.approx(1.0),
    ]


def test_whole_frame_zone_and_outline() -> None:
    frame = ZoneArea.whole_frame("frame", ZoneKind.HARDHAT_REQUIRED, W, H)
    assert centers_inside(boxes((0, 0, 2, 2), (198, 98, 200, 100)), frame).all()
    assert frame.outline == ()
    assert ZoneArea.rasterise(LEFT, W, H).outline == ((0, 0), (99, 0), (99, 99), (0, 99))
