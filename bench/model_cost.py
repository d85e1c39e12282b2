"""Per-frame cost of each model entry of a configuration, side by side (figures only).

Every model entry of ``--config`` (default: the example configuration, as the product runs it:
the hazard model at 416 and 512 px and the YOLOX person finder) is loaded with
``sitewatch.runner.load_detectors`` and timed on the same 1280x720 frame (the demo scene frame
of ``bench.detector``, or ``--image``), at batch 1 and at ``--batch`` frames (cameras batched).
The entries take turns within each round in a fresh shuffled order, with ``--settle-ms`` of idle
before each timed call, so their ratios hold on a shared, noisy machine. Per-frame milliseconds:
median and p95 over the rounds; the share of the whole stage each entry takes.

Run: .venv/bin/python -m bench.model_cost [--config PATH] [--image PATH] [--repeats 30]
     [--batch 4] [--settle-ms 50]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.detector import load_frame
from bench.proc import percentile
from bench.rules_eval import PRODUCT_CONFIG
from detect.engine import Image
from detect.inference import Detector
from detect.model_probe import describe_model
from sitewatch.config.loader import load_config
from sitewatch.runner import load_detectors

WARMUP_CALLS = 3


def timed_ms(detector: Detector, frames: Sequence[Image], settle_s: float) -> float:
    """Per-frame milliseconds of one ``detect_batch`` call on ``frames``."""
    time.sleep(settle_s)
    started = time.perf_counter()
    detector.detect_batch(frames)
    return (time.perf_counter() - started) * 1000 / len(frames)


def main(argv: Sequence[str] | None = None) -> None:
    """Time every model entry and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.model_cost", description=__doc__)
    parser.add_argument("--config", type=Path, default=PRODUCT_CONFIG, help="models to time")
    parser.add_argument("--image", type=Path, help="a BGR image instead of the demo frame")
    parser.add_argument("--repeats", type=int, default=30, help="measured rounds")
    parser.add_argument("--batch", type=int, default=4, help="frames per batched call")
    parser.add_argument("--settle-ms", type=float, default=50.0, help="idle before each call")
    args = parser.parse_args(argv)
    frame, source = load_frame(args.image)
    config = load_config(args.config, read_model=describe_model)
    stage = load_detectors(config)
    if stage is None:
        raise SystemExit(f"{args.config}: no model entry")
    settle = args.settle_ms / 1000
    runs: dict[tuple[str, int], list[float]] = {
        (name, batch): [] for name in stage.detectors for batch in sorted({1, args.batch})
    }
    rng = random.Random(0)
    for round_index in range(WARMUP_CALLS + args.repeats):
        order = list(runs)
        rng.shuffle(order)
        for name, batch in order:
            ms = timed_ms(stage.detectors[name], [frame] * batch, settle)
            if round_index >= WARMUP_CALLS:
                runs[(name, batch)].append(ms)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"config {args.config}, frame {source} ({frame.shape[1]}x{frame.shape[0]})")
    print(f"{args.repeats} rounds, {args.settle_ms:g} ms idle before each call; load {load}")
    print(
        f"{'model':<14} {'size':>4} {'threads':>7} {'batch':>5} {'ms/frame p50':>12} "
        f"{'p95':>6} {'share':>6}"
    )
    for batch in sorted({1, args.batch}):
        medians = {name: statistics.median(runs[(name, batch)]) for name in stage.detectors}
        total = sum(medians.values())
        for name, detector in stage.detectors.items():
            entry = next(m for m in config.models if m.name == name)
            values = runs[(name, batch)]
            print(
                f"{name:<14} {detector.input_size:>4} {entry.threads:>7} {batch:>5} "
                f"{medians[name]:>12.1f} {percentile(values, 95):>6.1f} "
                f"{medians[name] / total:>6.0%}"
            )
        print(f"{'all entries':<14} {'':>4} {'':>7} {batch:>5} {total:>12.1f}")


if __name__ == "__main__":
    main()
