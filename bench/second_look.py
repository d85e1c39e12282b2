"""What the second look's hint threshold (``second_look.min_score``) keeps and saves, chosen on
the calibration half of the shared validation split (``bench.val_halves``), never the half
``bench.rules_eval`` scores.

The example configuration (``config/site-example.yaml``) runs the hazard model at two sizes:
every class at the first size, and flames and bare heads again at a larger one with stricter
floors. The second pass costs more than the first. With ``second_look`` it runs only on frames
where the first pass gave one of its classes any score at all (its peak anywhere in the frame,
``Detections.peaks``), a hint far below any rule's threshold. Each picture of the rules' pools
(``bench.rules_eval.flame_pools`` / ``hardhat_pools``, letterboxed to 640x480) goes through both
passes as the configuration sets them (sizes, floors, the rules' thresholds); a picture alerts
when the first pass reaches the rule's threshold, or when the hint reaches ``min_score`` and the
second pass reaches its floor. Per hint threshold: recall, false alarms and the share of
pictures (and of negative pictures) the second pass runs on; ``always`` is the second look on
every frame. Suggested per rule: the highest hint that keeps the recall of always looking with
no more false alarms (its classes' ``class_min_score``).

Figures only, no assertions.

Run: .venv/bin/python -m bench.second_look [--config PATH] [--data PATH]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bench.operating_points import best_score
from bench.rules_eval import DEFAULT_DATA, flame_pools, hardhat_pools, letterbox
from bench.val_halves import CALIBRATION
from core.vocabulary import FIRE, HEAD, SMOKE
from detect.engine import OnnxDetector
from detect.model_probe import describe_model
from lab.yolo_dataset import DatasetError, LabelledImage, load_dataset
from sitewatch.config.detector import Model
from sitewatch.config.loader import load_config
from sitewatch.config.site import SiteConfig

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "site-example.yaml"
HINT_FLOOR = 0.0005  # the first pass keeps boxes down to this, so every hint can be compared
HINTS = (0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05)


@dataclass(frozen=True, slots=True)
class PictureScores:
    """One picture through both passes, for one rule's classes."""

    positive: bool
    first: tuple[float, ...]  # best score per class at the first size, boxes the rule counts
    hint: float  # the first pass's peak for the classes, anywhere in the frame
    second: tuple[float, ...]  # best score per class at the second size


def score_pictures(
    pools: tuple[list[LabelledImage], list[LabelledImage]],
    first: OnnxDetector,
    second: OnnxDetector,
    classes: Sequence[str],
    min_area: float,
) -> list[PictureScores]:
    """Both passes over the positives, then the negatives."""
    ids = [first.class_names.index(name) for name in classes]
    found: list[PictureScores] = []
    for positive, pool in ((True, pools[0]), (False, pools[1])):
        for item in pool:
            raw = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
            if raw is None:
                raise DatasetError(f"cannot read {item.image}")
            frame = letterbox(np.asarray(raw, np.uint8))
            a, b = first.detect(frame), second.detect(frame)
            assert a.peaks is not None  # OnnxDetector reports them
            found.append(
                PictureScores(
                    positive,
                    tuple(best_score((c,), min_area)(a) for c in classes),
                    float(a.peaks[ids].max()),
                    tuple(best_score((c,), min_area)(b) for c in classes),
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class HintRow:
    """The rule's figures at one hint threshold."""

    hint: float | None  # None: the second look on every frame
    recall: float
    false_alarms: int
    negatives: int
    share: float  # of all pictures the second pass runs on
    share_negative: float


def reaches(scores: Sequence[tuple[float, ...]], limits: Sequence[float]) -> npt.NDArray[np.bool_]:
    """Which pictures have a class at or above its limit."""
    return np.asarray((np.array(scores) >= np.array(limits)).any(axis=1), bool)


def hint_rows(
    pictures: Sequence[PictureScores], thresholds: Sequence[float], floors: Sequence[float]
) -> list[HintRow]:
    """Recall and cost of each hint threshold (and of always looking): ``thresholds`` are the
    rule's per class, ``floors`` the second pass's."""
    positive = np.array([p.positive for p in pictures])
    first = reaches([p.first for p in pictures], thresholds)
    second = reaches([p.second for p in pictures], floors)
    hints = np.array([p.hint for p in pictures])
    rows = []
    for hint in (None, *HINTS):
        looked: npt.NDArray[np.bool_] = (
            np.ones(len(pictures), bool) if hint is None else hints >= hint
        )
        alerts = first | (looked & second)
        rows.append(
            HintRow(
                hint,
                float(alerts[positive].mean()),
                int(alerts[~positive].sum()),
                int((~positive).sum()),
                float(looked.mean()),
                float(looked[~positive].mean()),
            )
        )
    return rows


def suggested(rows: Sequence[HintRow]) -> HintRow | None:
    """The highest hint as good as always looking (None if none is)."""
    always = next(row for row in rows if row.hint is None)
    good = [
        row
        for row in rows
        if row.hint is not None
        and row.recall >= always.recall
        and row.false_alarms <= always.false_alarms
    ]
    return max(good, key=lambda row: row.hint or 0.0, default=None)


def _passes(config: SiteConfig, config_path: Path) -> tuple[Model, Model]:
    second = next((m for m in config.models if m.second_look is not None), None)
    if second is None or second.second_look is None:
        raise SystemExit(f"{config_path}: no model with a second_look")
    first = next(m for m in config.models if m.name == second.second_look.after)
    return first, second


def main(argv: Sequence[str] | None = None) -> None:
    """Print the hint table of both rules."""
    parser = argparse.ArgumentParser(prog="python -m bench.second_look", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data YAML (val split)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"skipped: no dataset at {args.data} (pass --data path/to/data.yaml)")
        return
    config = load_config(args.config, read_model=describe_model)
    first_model, second_model = _passes(config, args.config)
    assert second_model.second_look is not None
    first = OnnxDetector(first_model.path, confidence=HINT_FLOOR, input_size=first_model.input_size)
    second = OnnxDetector(
        second_model.path,
        confidence=min(second_model.class_confidence.values(), default=second_model.confidence),
        input_size=second_model.input_size,
    )
    floors = second_model.class_confidence
    flame, hardhat = config.rules.flame, config.rules.hardhat
    data = load_dataset(args.data)
    rules = (
        (
            "flame",
            flame_pools(data, CALIBRATION),
            (FIRE, SMOKE),
            flame.min_area_fraction,
            (flame.fire_threshold, flame.smoke_threshold),
        ),
        (
            "missing_hardhat",
            hardhat_pools(data, CALIBRATION),
            (HEAD,),
            0.0,
            (hardhat.head_threshold,),
        ),
    )
    print(
        f"{first_model.name} at {first.input_size} px, then {second_model.name} at "
        f"{second.input_size} px; configured hint: {second_model.second_look.min_score:g} "
        "(calibration half)"
    )
    print("| rule | hint | recall | false alarms | second look on (all / negatives) |")
    print("| --- | --- | --- | --- | --- |")
    choices: list[tuple[str, Sequence[str], HintRow | None]] = []
    for name, pools, classes, min_area, thresholds in rules:
        print(f"scoring {len(pools[0]) + len(pools[1])} pictures for {name}...", file=sys.stderr)
        pictures = score_pictures(pools, first, second, classes, min_area)
        kept = [floors.get(c, second_model.confidence) for c in classes]
        alone = reaches([p.first for p in pictures], thresholds)
        positive = np.array([p.positive for p in pictures])
        print(
            f"| {name} | first pass alone | {alone[positive].mean():.3f} | "
            f"{int(alone[~positive].sum())} of {int((~positive).sum())} | none |"
        )
        rows = hint_rows(pictures, thresholds, kept)
        choices.append((name, classes, suggested(rows)))
        for row in rows:
            hint = "always" if row.hint is None else f"{row.hint:g}"
            print(
                f"| {name} | {hint} | {row.recall:.3f} | {row.false_alarms} of {row.negatives} | "
                f"{row.share:.0%} / {row.share_negative:.0%} |"
            )

    for rule, looked_for, choice in choices:
        if choice is None or choice.hint is None:
            print(f"{rule}: no hint keeps the recall of always looking")
        else:
            print(
                f"{rule}: suggested hint {choice.hint:g} for {', '.join(looked_for)} (second "
                f"look on {choice.share_negative:.0%} of the negative pictures)"
            )


if __name__ == "__main__":
    main()
