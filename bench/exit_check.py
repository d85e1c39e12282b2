"""Cost of one blocked-exit check (grey conversion + comparison) per frame size; prints figures.

Run: .venv/bin/python -m bench.exit_check
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from core.vocabulary import ZoneKind
from detect.exit_compare import differing_fraction, to_gray
from detect.zones import ZoneShape

SIZES = [(640, 360), (1280, 720), (1920, 1080)]
ZONE = ZoneShape("exit", ZoneKind.EXIT, ((0.55, 0.45), (0.85, 0.45), (0.95, 0.98), (0.5, 0.98)))
REPEATS = 30


def measure(width: int, height: int) -> tuple[float, float]:
    """Median milliseconds of (to_gray, differing_fraction)."""
    rng = np.random.default_rng(0)
    reference = to_gray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    mask = ZONE.mask(width, height)
    gray_ms, compare_ms = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        current = to_gray(frame)
        middle = time.perf_counter()
        differing_fraction(reference, current, mask)
        end = time.perf_counter()
        gray_ms.append((middle - start) * 1000)
        compare_ms.append((end - middle) * 1000)
    return statistics.median(gray_ms), statistics.median(compare_ms)


def main() -> None:
    """Print one row per frame size."""
    print(f"{'frame':>10} {'grey+blur ms':>13} {'compare ms':>11} {'CPU at 1 check/s':>17}")
    for width, height in SIZES:
        gray, compare = measure(width, height)
        share = (gray + compare) / 1000 * 100
        print(f"{width}x{height:<5} {gray:13.2f} {compare:11.2f} {share:16.2f}%")


if __name__ == "__main__":
    main()
