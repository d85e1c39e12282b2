"""The threshold choice of ``bench.operating_points`` and the fixed halves of the val split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.operating_points import (
    THRESHOLDS,
    Point,
    RulePoints,
    best_score,
    operating_points,
    second_pass,
    suggested_size,
    suggested_sizes,
)
from bench.val_halves import CALIBRATION, EVALUATION, half_of
from detect.detections import Detections
from tests.detections import HAZARD_NAMES

NAMES = HAZARD_NAMES


def test_the_highest_precise_recall_is_chosen() -> None:
    positives = [[0.9], [0.5], [0.42], [0.33], [0.22], [0.12]]
    # two negatives at 0.3 make 0.30 and below imprecise with as many negatives as positives
    negatives = [[0.31], [0.3], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0]]
    chosen = operating_points("flame", ("fire",), 320, positives, negatives)
    by_threshold = {p.thresholds[0]: p for p in chosen.points}
    assert by_threshold[0.3].false_alarms == 2
    assert by_threshold[0.3].precision == pytest.approx((4 / 6) / (4 / 6 + 0.2))
    assert by_threshold[0.35].false_alarms == 0
    assert chosen.chosen.thresholds == (0.4,)  # same recall as 0.35, with a margin
    clean = operating_points("flame", ("fire",), 320, positives, [[0.0]] * 10)
    # every positive caught from 0.10 down: the highest threshold that does it
    assert clean.chosen.thresholds == (0.1,) and clean.chosen.recall == 1.0


def test_each_class_gets_its_own_threshold() -> None:
    # fire pictures score low on fire; the negatives only ever look like smoke
    positives = [[0.12, 0.0], [0.15, 0.0], [0.0, 0.7], [0.0, 0.8]]
    negatives = [[0.0, 0.5], [0.0, 0.45], [0.0, 0.0], [0.0, 0.0]]
    chosen = operating_points("flame", ("fire", "smoke"), 416, positives, negatives)
    assert chosen.chosen_by_class == {"fire": 0.1, "smoke": 0.6}
    assert chosen.chosen.recall == 1.0 and chosen.chosen.false_alarms == 0
    one = {p.thresholds[0]: p for p in chosen.points}  # the same threshold for both is worse
    assert max(p.recall for p in one.values() if p.false_alarms == 0) < 1.0


def test_nothing_precise_takes_the_strictest_thresholds() -> None:
    chosen = operating_points("flame", ("fire",), 320, [[0.3]], [[0.9], [0.8]])
    assert chosen.chosen.thresholds == (THRESHOLDS[-1],)


def test_the_smaller_input_wins_a_near_tie() -> None:
    def rules(size: int, recall: float) -> list[RulePoints]:
        point = Point((0.25,), recall, 0.0, 0)
        return [RulePoints("flame", ("fire",), size, 10, 10, (point,), point)]

    assert suggested_size([rules(640, 0.80), rules(416, 0.90), rules(512, 0.905)]) == 416
    assert suggested_size([rules(416, 0.80), rules(512, 0.90)]) == 512


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


def test_each_rule_gets_its_own_best_size() -> None:
    def rules(size: int, flame: float, hardhat: float) -> list[RulePoints]:
        made = []
        for name, recall in (("flame", flame), ("missing_hardhat", hardhat)):
            point = Point((0.25,), recall, 0.0, 0)
            made.append(RulePoints(name, ("x",), size, 10, 10, (point,), point))
        return made

    measured = [rules(416, 0.90, 0.92), rules(512, 0.89, 0.92), rules(640, 0.76, 0.95)]
    assert suggested_sizes(measured) == {"flame": 416, "missing_hardhat": 640}
    assert suggested_size(measured) == 416


def test_a_second_pass_adds_the_pictures_the_first_misses() -> None:
    # the first size misses the last two fires; the second sees them from 0.3
    first = operating_points("flame", ("fire",), 416, [[0.9], [0.8], [0.0], [0.0]], [[0.0]] * 4)
    second = operating_points(
        "flame", ("fire",), 512, [[0.0], [0.0], [0.35], [0.32]], [[0.2], [0.0], [0.0], [0.0]]
    )
    extra = second_pass(first, [first, second])
    assert extra is not None
    assert (extra.size, extra.threshold) == (512, 0.3)
    assert extra.point.recall == 1.0 and extra.point.false_alarms == 0
    assert extra.base.recall == 0.5
    # a second size that only adds false alarms is not suggested
    noisy = operating_points("flame", ("fire",), 640, [[0.0]] * 4, [[0.9]] * 4)
    assert second_pass(first, [first, noisy]) is None
