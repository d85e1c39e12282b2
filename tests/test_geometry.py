"""Box and polygon geometry (core.geometry): worked examples and properties (hypothesis)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.geometry import box_area, box_iou, nms, polygon_area, self_intersection

coordinate = st.floats(min_value=-1000, max_value=1000, allow_nan=False, width=32)
size = st.floats(min_value=0.5, max_value=500, allow_nan=False, width=32)


@st.composite
def boxes(draw: st.DrawFn, min_size: int = 1, max_size: int = 12) -> npt.NDArray[np.float32]:
    n = draw(st.integers(min_size, max_size))
    rows = []
    for _ in range(n):
        x, y, w, h = draw(coordinate), draw(coordinate), draw(size), draw(size)
        rows.append((x, y, x + w, y + h))
    return np.array(rows, np.float32)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param((0, 0, 10, 10), (0, 0, 10, 10), 1.0, id="same box"),
        pytest.param((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150, id="half shifted"),
        pytest.param((0, 0, 10, 10), (10, 0, 20, 10), 0.0, id="touching"),
        pytest.param((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100, id="nested"),
        pytest.param((0, 0, 0, 0), (0, 0, 0, 0), 0.0, id="empty boxes"),
        pytest.param((0, 0, 10, 10), (10, 10, 0, 0), 0.0, id="inverted box has no area"),
    ],
)
def test_box_iou_examples(a: tuple[float, ...], b: tuple[float, ...], expected: float) -> None:
    iou = box_iou(np.array([a], np.float32), np.array([b], np.float32))
    assert iou.shape == (1, 1)
    assert iou[0, 0] == pytest.approx(expected)


@given(boxes(), boxes())
def test_iou_is_symmetric_and_between_zero_and_one(a: np.ndarray, b: np.ndarray) -> None:
    forward, backward = box_iou(a, b), box_iou(b, a)
    assert forward.shape == (len(a), len(b))
    np.testing.assert_allclose(forward, backward.T, rtol=1e-12, atol=0)
    assert ((forward >= 0) & (forward <= 1 + 1e-12)).all()


@given(boxes())
def test_a_box_overlaps_itself_fully(a: np.ndarray) -> None:
    np.testing.assert_allclose(np.diag(box_iou(a, a)), 1.0, rtol=1e-9)


@given(boxes(), boxes(), coordinate, coordinate, st.floats(0.1, 10))
def test_iou_ignores_where_and_at_what_scale(
    a: np.ndarray, b: np.ndarray, dx: float, dy: float, scale: float
) -> None:
    moved = np.array([dx, dy, dx, dy], np.float64)
    before = box_iou(a, b)
    after = box_iou(a.astype(np.float64) * scale + moved, b.astype(np.float64) * scale + moved)
    np.testing.assert_allclose(before, after, atol=1e-3)


def test_box_area_is_zero_for_empty_boxes() -> None:
    areas = box_area(np.array([[0, 0, 4, 5], [3, 3, 1, 9]], np.float32))
    assert areas.tolist() == [20.0, 0.0]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes_ = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.5, 0.9, 0.3], np.float32)
    assert nms(boxes_, scores, 0.5) == [1, 2]
    assert nms(boxes_, scores, 0.9) == [1, 0, 2]


@given(boxes(max_size=20), st.data(), st.floats(0.05, 0.95))
def test_nms_keeps_no_overlapping_pair_and_drops_only_overlapped_boxes(
    b: np.ndarray, data: st.DataObject, threshold: float
) -> None:
    scores = np.array(
        data.draw(st.lists(st.floats(0, 1, width=32), min_size=len(b), max_size=len(b))),
        np.float32,
    )
    kept = nms(b, scores, threshold)
    assert len(set(kept)) == len(kept)
    assert kept[0] == int(np.argmax(scores))
    assert all(scores[i] >= scores[j] for i, j in itertools.pairwise(kept))
    iou = box_iou(b, b)
    for i in kept:
        for j in kept:
            if i != j:
                assert iou[i, j] <= threshold
    for dropped in set(range(len(b))) - set(kept):
        assert any(iou[dropped, k] > threshold and scores[k] >= scores[dropped] for k in kept)


def test_polygon_area_of_a_rectangle_and_a_triangle() -> None:
    assert polygon_area([(0, 0), (4, 0), (4, 3), (0, 3)]) == 12.0
    assert polygon_area([(0, 0), (4, 0), (0, 3)]) == 6.0


@given(st.integers(3, 12), st.floats(1, 100), st.integers(0, 11), st.booleans())
def test_polygon_area_ignores_start_and_direction(
    sides: int, radius: float, start: int, reverse: bool
) -> None:
    points = [
        (radius * math.cos(2 * math.pi * k / sides), radius * math.sin(2 * math.pi * k / sides))
        for k in range(sides)
    ]
    expected = 0.5 * sides * radius**2 * math.sin(2 * math.pi / sides)
    turned = points[start % sides :] + points[: start % sides]
    if reverse:
        turned.reverse()
    assert polygon_area(turned) == pytest.approx(expected, rel=1e-9)
    assert self_intersection(turned) is None  # a regular polygon is simple


def test_a_bow_tie_crosses_itself() -> None:
    assert self_intersection([(0, 0), (4, 4), (4, 0), (0, 4)]) == (0, 2)


def test_touching_at_a_vertex_is_not_crossing() -> None:
    assert self_intersection([(0, 0), (4, 0), (4, 4), (2, 0.0001), (0, 4)]) is None
