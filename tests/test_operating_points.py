"""The threshold choice of ``bench.operating_points`` and the fixed halves of the val split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.operating_points import FLOOR, best_score, operating_points
from bench.val_halves import CALIBRATION, EVALUATION, half_of
from detect.detections import Detections

NAMES = ("fire", "smoke", "helmet", "head")


def test_the_lowest_precise_threshold_above_the_floor_is_chosen() -> None:
    positives = [0.9, 0.5, 0.42, 0.33, 0.22, 0.1]
    # negatives: two at 0.3 make 0.30 imprecise with as many negatives as positives
    negatives = [0.31, 0.3, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    chosen = operating_points("flame", ("fire",), 320, positives, negatives)
    by_threshold = {p.threshold: p for p in chosen.points}
    assert by_threshold[0.3].false_alarms == 2
    assert by_threshold[0.3].precision == pytest.approx((4 / 6) / (4 / 6 + 0.2))
    assert by_threshold[0.35].false_alarms == 0
    assert chosen.chosen == 0.35
    clean = operating_points("flame", ("fire",), 320, positives, [0.0] * 10)
    assert clean.chosen == FLOOR  # never under the floor, even when lower would be precise


def test_best_score_takes_the_classes_and_the_minimum_size() -> None:
    found = Detections(
        np.array([[0, 0, 10, 10], [0, 0, 100, 100], [0, 0, 200, 200]], np.float32),
        np.array([0.9, 0.6, 0.8], np.float32),
        np.array([0, 1, 3], np.int32),
        NAMES,
    )
    assert best_score(("fire", "smoke"))(found) == pytest.approx(0.9)
    assert best_score(("fire", "smoke"), min_area=0.001)(found) == pytest.approx(0.6)  # 100 px²
    assert best_score(("head",))(found) == pytest.approx(0.8)
    assert best_score(("helmet",))(found) == 0.0


def test_halves_are_stable_and_split_about_evenly() -> None:
    names = [Path(f"images/val/picture_{i:04d}.jpg") for i in range(1000)]
    halves = [half_of(name) for name in names]
    assert 400 < halves.count(CALIBRATION) < 600
    assert set(halves) == {CALIBRATION, EVALUATION}
    assert half_of(Path("/elsewhere/picture_0007.jpg")) == halves[7]  # by name only
