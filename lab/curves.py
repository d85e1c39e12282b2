"""Learning curves of the hazard detector across its training stages, as one picture.

Each stage is an ultralytics ``results.csv`` (one row per epoch); stages are drawn one after the
other on a running epoch axis, so resumed and continued runs read as one history.

Run (train venv, matplotlib): python -m lab.curves models/hazards-training.csv
    runs/hazards-v2/results.csv --out docs/models/hazards-curves.png
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

SERIES = (
    ("metrics/mAP50(B)", "val mAP50"),
    ("metrics/mAP50-95(B)", "val mAP50-95"),
    ("metrics/precision(B)", "val precision"),
    ("metrics/recall(B)", "val recall"),
)
LOSSES = (("train/cls_loss", "train cls loss"), ("val/cls_loss", "val cls loss"))


def read_rows(path: Path) -> list[dict[str, float]]:
    """The epochs of one results.csv (keys stripped of ultralytics' padding)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {key.strip(): float(value) for key, value in row.items() if value.strip()}
            for row in csv.DictReader(handle)
        ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.curves", description=__doc__)
    parser.add_argument("stages", type=Path, nargs="+", help="results.csv of each stage, in order")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (metrics, losses) = plt.subplots(1, 2, figsize=(12, 4.5))
    offset = 0
    for index, stage in enumerate(args.stages):
        rows = read_rows(stage)
        epochs = [offset + i + 1 for i in range(len(rows))]
        panels = ((metrics, SERIES), (losses, LOSSES))
        for colour, (axis, key, label) in enumerate(
            (axis, key, label) for axis, series in panels for key, label in series
        ):
            axis.plot(
                epochs,
                [r[key] for r in rows],
                marker="o",
                ms=3,
                label=label if index == 0 else None,
                color=f"C{colour}",
            )
        if index:
            for axis in (metrics, losses):
                axis.axvline(offset + 0.5, color="grey", ls=":", lw=1)
                axis.text(
                    offset + 0.6,
                    0.02,
                    stage.parent.name,
                    transform=axis.get_xaxis_transform(),
                    fontsize=8,
                    color="grey",
                )
        offset += len(rows)
    metrics.set(title="validation split (ultralytics val)", xlabel="epoch", ylim=(0, 1))
    losses.set(title="classification loss", xlabel="epoch")
    for axis in (metrics, losses):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
