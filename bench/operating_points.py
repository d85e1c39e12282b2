"""Operating thresholds of the flame and hard-hat rules, chosen on the calibration half of the
shared validation split (``bench.val_halves``); ``bench.rules_eval`` measures the rules on the
other half, so the thresholds are never tuned on the pictures that score them.

Each picture of the rules' pools (``bench.rules_eval.flame_pools`` / ``hardhat_pools``) is
letterboxed to the frame the rules see (640x480) and run through the detector once at a low
confidence. A still picture alerts when its best box of the rule's classes reaches the
threshold (flame: ``fire`` or ``smoke`` no smaller than ``min_area_fraction``; hard hat: a bare
``head``): on held pictures the rules' confirmation windows pass or fail as that box does. For
each threshold the table shows the share of positive pictures that would alert (recall) and of
negative pictures that would (false alarms).

Choice: the lowest threshold, never under ``FLOOR`` (ultralytics' default operating point: below
it boxes are mostly noise), whose picture precision with as many negatives as positives (the
bench's mix: recall / (recall + false-alarm share)) is at least ``MIN_PRECISION``. Figures only,
no assertions.

Run: .venv/bin/python -m bench.operating_points [--data PATH] [--model PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

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
from detect.yolo_dataset import DatasetError, LabelledImage, YoloDataset, load_dataset
from sitewatch.config.rules import FlameRule

THRESHOLDS = tuple(round(0.15 + 0.05 * i, 2) for i in range(10))  # 0.15 .. 0.60
FLOOR = 0.25
MIN_PRECISION = 0.95
LOW_CONFIDENCE = 0.05

Score = Callable[[Detections], float]


@dataclass(frozen=True, slots=True)
class Point:
    """One threshold on one rule's pictures."""

    threshold: float
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
    """The operating points of one rule and the threshold chosen."""

    rule: str
    classes: tuple[str, ...]
    input_size: int
    positives: int
    negatives: int
    points: tuple[Point, ...]
    chosen: float


def best_score(classes: Sequence[str], min_area: float = 0.0) -> Score:
    """The highest confidence among ``classes`` with boxes of at least ``min_area`` of the frame."""
    frame_area = FRAME_WH[0] * FRAME_WH[1]

    def score(found: Detections) -> float:
        wanted = np.isin(np.array(found.labels, dtype=object), list(classes))
        sides = found.xyxy[:, 2:] - found.xyxy[:, :2]
        wanted &= sides[:, 0] * sides[:, 1] >= min_area * frame_area
        return float(found.confidence[wanted].max()) if wanted.any() else 0.0

    return score


def scores(detector: OnnxDetector, pictures: Sequence[LabelledImage], score: Score) -> list[float]:
    """Each picture's best score, as the rules would see it."""
    found = []
    for index, item in enumerate(pictures, 1):
        raw = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if raw is None:
            raise DatasetError(f"cannot read {item.image}")
        found.append(score(detector.detect(letterbox(np.asarray(raw, np.uint8)))))
        if index % 50 == 0 or index == len(pictures):
            print(f"  {index}/{len(pictures)}", file=sys.stderr, flush=True)
    return found


def operating_points(
    rule: str, classes: tuple[str, ...], input_size: int, pos: list[float], neg: list[float]
) -> RulePoints:
    """The table for one rule and its chosen threshold."""
    positives, negatives = np.array(pos), np.array(neg)
    points = tuple(
        Point(
            t,
            float((positives >= t).mean()) if len(positives) else float("nan"),
            float((negatives >= t).mean()) if len(negatives) else float("nan"),
            int((negatives >= t).sum()),
        )
        for t in THRESHOLDS
    )
    allowed = [p.threshold for p in points if p.threshold >= FLOOR and p.precision >= MIN_PRECISION]
    chosen = min(allowed) if allowed else THRESHOLDS[-1]
    return RulePoints(rule, classes, input_size, len(pos), len(neg), points, chosen)


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
        score = best_score(classes, area)
        pos, neg = (scores(detector, pool, score) for pool in pools)
        rules.append(operating_points(name, classes, detector.input_size, pos, neg))
    return rules


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
            mark = "  <- chosen" if p.threshold == rule.chosen else ""
            print(
                f"{p.threshold:>9.2f} {p.recall:>7.3f} "
                f"{p.false_alarm_share:>8.3f} ({p.false_alarms:>2}) {p.precision:>13.3f}{mark}"
            )


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

    if args.json:
        rows = [asdict(rule) for measured in by_size for rule in measured]
        print(json.dumps({"model": str(args.model), "rules": rows}, indent=2))
        return
    print(
        f"Operating points on the calibration half of {args.data} (model {args.model}, "
        f"{FRAME_WH[0]}x{FRAME_WH[1]} frames)"
    )
    for rules in by_size:
        print_points(rules)
    print()
    print(
        f"choice: the lowest threshold >= {FLOOR} whose precision with as many negative as "
        f"positive pictures is >= {MIN_PRECISION}"
    )
    print()
    print(f"{'input':>6} " + " ".join(f"{r.rule + ' (thr, recall)':>30}" for r in by_size[0]))
    for rules in by_size:
        cells = []
        for rule in rules:
            at = next(p for p in rule.points if p.threshold == rule.chosen)
            cells.append(f"{f'{rule.chosen:.2f}, {at.recall:.3f} (P {at.precision:.3f})':>30}")
        print(f"{rules[0].input_size:>6} " + " ".join(cells))


if __name__ == "__main__":
    main()
