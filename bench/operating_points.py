"""Operating thresholds of the flame and hard-hat rules, and the model's input size, chosen on
the calibration half of the shared validation split (``bench.val_halves``); ``bench.rules_eval``
measures the rules on the other half, so nothing is tuned on the pictures that score it.

Each picture of the rules' pools (``bench.rules_eval.flame_pools`` / ``hardhat_pools``) is
letterboxed to the frame the rules see (640x480) and run through the detector once at
``LOW_CONFIDENCE``. For each class a rule reads (flame: ``fire`` and ``smoke`` boxes no smaller
than ``min_area_fraction``; hard hat: bare ``head``) the picture's best score is kept. A still
picture alerts when any class reaches its threshold: on held pictures the rules' confirmation
windows pass or fail as that box does. Recall is the share of positive pictures that would
alert, false alarms the share of negative ones.

Thresholds: every combination of the grid ``THRESHOLDS`` for the rule's classes; the choice is
the highest recall whose picture precision with as many negatives as positives (the bench's
mix: recall / (recall + false-alarm share)) is at least ``MIN_PRECISION``; among equal recalls
the fewest false alarms, then the highest thresholds. The grid starts at ``LOW_CONFIDENCE``:
this detector's scores for the early indoor fires of the validation set are low (its training
fires are mostly large outdoor ones), so a fixed 0.25 would throw most of them away, while the
negative pictures stay quiet far below it. The table shows one threshold for all the classes.

Input size: with ``--imgsz`` several sizes are measured; the suggested one has the highest
mean recall over the rules at their chosen thresholds, the smaller one when two are within
``SIZE_TIE`` (cheaper, and the difference is noise on this many pictures).

Figures only, no assertions.

Run: .venv/bin/python -m bench.operating_points [--imgsz 320 416 512 640] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bench.rules_eval import (
    DEFAULT_DATA,
    DEFAULT_MODEL,
    FRAME_WH,
    flame_pools,
    hardhat_pools,
    letterbox,
)
from bench.val_halves import CALIBRATION
from detect.detections import Detections
from detect.engine import OnnxDetector
from lab.yolo_dataset import DatasetError, LabelledImage, YoloDataset, load_dataset
from sitewatch.config.rules import FlameRule

LOW_CONFIDENCE = 0.05
THRESHOLDS = tuple(round(LOW_CONFIDENCE + 0.05 * i, 2) for i in range(12))  # 0.05 .. 0.60
MIN_PRECISION = 0.95
SIZE_TIE = 0.01

Score = Callable[[Detections], float]
Scores = npt.NDArray[np.float64]  # pictures x classes


@dataclass(frozen=True, slots=True)
class Point:
    """One set of thresholds (one per class) on one rule's pictures."""

    thresholds: tuple[float, ...]
    recall: float
    false_alarm_share: float
    false_alarms: int

    @property
    def precision(self) -> float:
        """Precision with as many negative pictures as positive ones."""
        alerts = self.recall + self.false_alarm_share
        return self.recall / alerts if alerts else float("nan")


@dataclass(frozen=True, slots=True)
class RulePoints:
    """The operating points of one rule and the thresholds chosen."""

    rule: str
    classes: tuple[str, ...]
    input_size: int
    positives: int
    negatives: int
    points: tuple[Point, ...]  # one threshold for all classes, for the table
    chosen: Point
    scores: tuple[Scores, Scores] | None = field(default=None, repr=False, compare=False)

    @property
    def chosen_by_class(self) -> dict[str, float]:
        """The chosen threshold of each class."""
        return dict(zip(self.classes, self.chosen.thresholds, strict=True))


def best_score(classes: Sequence[str], min_area: float = 0.0) -> Score:
    """The highest confidence among ``classes`` with boxes of at least ``min_area`` of the frame."""
    frame_area = FRAME_WH[0] * FRAME_WH[1]

    def score(found: Detections) -> float:
        wanted = np.isin(np.array(found.labels, dtype=object), list(classes))
        sides = found.xyxy[:, 2:] - found.xyxy[:, :2]
        wanted &= sides[:, 0] * sides[:, 1] >= min_area * frame_area
        return float(found.confidence[wanted].max()) if wanted.any() else 0.0

    return score


def scores(
    detector: OnnxDetector, pictures: Sequence[LabelledImage], per_class: Sequence[Score]
) -> Scores:
    """Each picture's best score per class, as the rules would see it."""
    rows = np.zeros((len(pictures), len(per_class)))
    for index, item in enumerate(pictures):
        raw = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if raw is None:
            raise DatasetError(f"cannot read {item.image}")
        found = detector.detect(letterbox(np.asarray(raw, np.uint8)))
        rows[index] = [score(found) for score in per_class]
        if (index + 1) % 50 == 0 or index + 1 == len(pictures):
            print(f"  {index + 1}/{len(pictures)}", file=sys.stderr, flush=True)
    return rows


def _point(thresholds: tuple[float, ...], positives: Scores, negatives: Scores) -> Point:
    limits = np.array(thresholds)
    hit: npt.NDArray[np.bool_] = np.asarray((positives >= limits).any(axis=1), bool)
    false: npt.NDArray[np.bool_] = np.asarray((negatives >= limits).any(axis=1), bool)
    return Point(
        thresholds,
        float(hit.mean()) if hit.size else float("nan"),
        float(false.mean()) if false.size else float("nan"),
        int(false.sum()),
    )


def choose(points: Sequence[Point]) -> Point:
    """The highest recall with enough precision; then fewest false alarms, highest thresholds.
    When no point is precise enough, the strictest thresholds."""
    precise = [p for p in points if p.precision >= MIN_PRECISION]
    if not precise:
        return max(points, key=lambda p: sum(p.thresholds))
    return max(precise, key=lambda p: (p.recall, -p.false_alarms, sum(p.thresholds)))


def operating_points(
    rule: str,
    classes: tuple[str, ...],
    input_size: int,
    pos: Scores | Sequence[Sequence[float]],
    neg: Scores | Sequence[Sequence[float]],
) -> RulePoints:
    """The table for one rule and its chosen thresholds (``pos``/``neg``: pictures x classes)."""
    positives = np.asarray(pos, np.float64).reshape(-1, len(classes))
    negatives = np.asarray(neg, np.float64).reshape(-1, len(classes))
    every = [
        _point(combo, positives, negatives)
        for combo in itertools.product(THRESHOLDS, repeat=len(classes))
    ]
    table = tuple(_point((t,) * len(classes), positives, negatives) for t in THRESHOLDS)
    return RulePoints(
        rule,
        classes,
        input_size,
        len(positives),
        len(negatives),
        table,
        choose(every),
        (positives, negatives),
    )


def _smallest_best(recalls: dict[int, float]) -> int:
    best = max(recalls.values())
    return min(size for size, recall in recalls.items() if recall >= best - SIZE_TIE)


def suggested_size(by_size: Sequence[Sequence[RulePoints]]) -> int:
    """One input size for every rule: the highest mean recall (the smaller within
    ``SIZE_TIE``)."""
    return _smallest_best(
        {rules[0].input_size: float(np.mean([r.chosen.recall for r in rules])) for rules in by_size}
    )


def suggested_sizes(by_size: Sequence[Sequence[RulePoints]]) -> dict[str, int]:
    """Each rule's own input size (a model entry per size, each with the classes of its rules:
    ``models[].use_classes``): its highest recall, the smaller within ``SIZE_TIE``."""
    names = [rule.rule for rule in by_size[0]]
    return {
        name: _smallest_best(
            {
                rule.input_size: rule.chosen.recall
                for rules in by_size
                for rule in rules
                if rule.rule == name
            }
        )
        for name in names
    }


@dataclass(frozen=True, slots=True)
class SecondPass:
    """A second look for one rule at another input size (a second model entry with the rule's
    classes, ``use_classes``, and its own floor, ``class_confidence``)."""

    rule: str
    base_size: int
    size: int
    threshold: float  # for every class of the rule, in the second pass
    point: Point  # both passes together
    base: Point  # the base size alone


def _alerts(scores: Scores, thresholds: Sequence[float]) -> npt.NDArray[np.bool_]:
    return np.asarray((scores >= np.array(thresholds)).any(axis=1), bool)


def second_pass(base: RulePoints, others: Sequence[RulePoints]) -> SecondPass | None:
    """The best second pass for ``base``'s rule: its chosen thresholds kept, a picture alerts
    when either pass does; over the other sizes and one threshold for all classes, the highest
    recall whose precision is at least ``MIN_PRECISION`` (ties: fewest false alarms, the smaller
    size, the higher threshold). None when no second pass adds recall."""
    assert base.scores is not None
    base_pos = _alerts(base.scores[0], base.chosen.thresholds)
    base_neg = _alerts(base.scores[1], base.chosen.thresholds)
    found: list[SecondPass] = []
    for other in others:
        if other.rule != base.rule or other.input_size == base.input_size:
            continue
        assert other.scores is not None
        for t in THRESHOLDS:
            limits = (t,) * len(other.classes)
            hit = base_pos | _alerts(other.scores[0], limits)
            false = base_neg | _alerts(other.scores[1], limits)
            point = Point((t,), float(hit.mean()), float(false.mean()), int(false.sum()))
            if point.precision >= MIN_PRECISION and point.recall > base.chosen.recall:
                found.append(
                    SecondPass(base.rule, base.input_size, other.input_size, t, point, base.chosen)
                )
    if not found:
        return None
    return max(found, key=lambda c: (c.point.recall, -c.point.false_alarms, -c.size, c.threshold))


def measure(data: YoloDataset, model: Path, input_size: int | None) -> list[RulePoints]:
    """Both rules' operating points for one model at one input size."""
    detector = OnnxDetector(model, confidence=LOW_CONFIDENCE, input_size=input_size)
    min_area = FlameRule().min_area_fraction
    rules = []
    for name, pools, classes, area in (
        ("flame", flame_pools(data, CALIBRATION), ("fire", "smoke"), min_area),
        ("missing_hardhat", hardhat_pools(data, CALIBRATION), ("head",), 0.0),
    ):
        print(
            f"{name} at {detector.input_size} px: scoring {len(pools[0]) + len(pools[1])} "
            "pictures...",
            file=sys.stderr,
        )
        per_class = [best_score((label,), area) for label in classes]
        pos, neg = (scores(detector, pool, per_class) for pool in pools)
        rules.append(operating_points(name, classes, detector.input_size, pos, neg))
    return rules


def _describe(rule: RulePoints) -> str:
    thresholds = ", ".join(f"{k} {v:.2f}" for k, v in rule.chosen_by_class.items())
    at = rule.chosen
    return f"{thresholds}: recall {at.recall:.3f}, {at.false_alarms} false, P {at.precision:.3f}"


def print_points(rules: Sequence[RulePoints]) -> None:
    """One input size's tables."""
    for rule in rules:
        print()
        print(
            f"{rule.rule} ({' or '.join(rule.classes)}) at {rule.input_size} px: "
            f"{rule.positives} positive, {rule.negatives} negative pictures"
        )
        print(f"{'threshold':>9} {'recall':>7} {'false alarms':>13} {'precision 1:1':>13}")
        for p in rule.points:
            print(
                f"{p.thresholds[0]:>9.2f} {p.recall:>7.3f} "
                f"{p.false_alarm_share:>8.3f} ({p.false_alarms:>2}) {p.precision:>13.3f}"
            )
        print(f"chosen: {_describe(rule)}")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the operating points of both rules (or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bench.operating_points", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data YAML (val split)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--imgsz",
        type=int,
        nargs="*",
        default=[],
        help="input sizes to compare (default: the model's own)",
    )
    parser.add_argument("--json", action="store_true", help="print only JSON to stdout")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"skipped: no dataset at {args.data} (pass --data path/to/data.yaml)")
        return
    data = load_dataset(args.data)
    sizes: list[int | None] = list(args.imgsz) or [None]
    by_size = [measure(data, args.model, size) for size in sizes]
    suggested = suggested_size(by_size)
    per_rule = suggested_sizes(by_size)
    at_suggested = next(rules for rules in by_size if rules[0].input_size == suggested)
    every_rule = [rule for rules in by_size for rule in rules]
    second = {rule.rule: second_pass(rule, every_rule) for rule in at_suggested}

    if args.json:
        rows = [
            {
                **{k: v for k, v in asdict(rule).items() if k != "scores"},
                "chosen_by_class": rule.chosen_by_class,
            }
            for measured in by_size
            for rule in measured
        ]
        print(
            json.dumps(
                {
                    "model": str(args.model),
                    "rules": rows,
                    "suggested_input_size": suggested,
                    "suggested_per_rule": per_rule,
                    "second_pass": {
                        name: None if extra is None else asdict(extra)
                        for name, extra in second.items()
                    },
                },
                indent=2,
            )
        )
        return
    print(
        f"Operating points on the calibration half of {args.data} (model {args.model}, "
        f"{FRAME_WH[0]}x{FRAME_WH[1]} frames)"
    )
    for rules in by_size:
        print_points(rules)
    print()
    print(
        f"choice per rule: the highest recall whose precision with as many negative as positive "
        f"pictures is >= {MIN_PRECISION} (thresholds per class, grid {THRESHOLDS[0]:.2f}.."
        f"{THRESHOLDS[-1]:.2f})"
    )
    print()
    for rules in by_size:
        for rule in rules:
            print(f"{rules[0].input_size:>6} px  {rule.rule:<16} {_describe(rule)}")
    print()
    print(
        f"suggested input size: {suggested} px (highest mean recall; the smaller within {SIZE_TIE})"
    )
    print(
        "suggested per rule (one model entry per size, models[].use_classes): "
        + ", ".join(f"{name} {size} px" for name, size in per_rule.items())
    )
    for name, extra in second.items():
        if extra is None:
            print(f"second pass for {name}: none adds recall at precision >= {MIN_PRECISION}")
            continue
        at = extra.point
        print(
            f"second pass for {name}: {extra.size} px from {extra.threshold:.2f} beside "
            f"{extra.base_size} px -> recall {at.recall:.3f} (alone {extra.base.recall:.3f}), "
            f"{at.false_alarms} false (alone {extra.base.false_alarms}), P {at.precision:.3f}"
        )


if __name__ == "__main__":
    main()
