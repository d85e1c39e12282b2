"""Motion gating (Frigate's idea): skip inference on frames where nothing moved.

Each camera keeps a small blurred grey copy of the scene as a running average. A sampled frame
"moved" when enough of its pixels differ from that average by more than a threshold. A global
brightness change (lights on or off) counts as motion — inference then runs, which is the safe
side. While nothing moves, the last detections stand in for new ones (a person standing still is
still there), and a forced inference runs every ``max_skip_s`` so slow changes are not missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

WIDTH = 160  # analysis width in pixels: enough for people and flames at 720p, tiny to compute


@dataclass(frozen=True, slots=True)
class MotionParams:
    """Thresholds of the gate."""

    pixel_threshold: float = 12.0  # grey levels a pixel must change by
    min_changed_fraction: float = 0.002  # share of the frame that must change
    learning_rate: float = 0.2  # weight of a new frame in the running average
    max_skip_s: float = 5.0  # run inference at least this often anyway


@dataclass
class MotionGate:
    """One camera's gate; ``check`` says whether this frame needs inference."""

    params: MotionParams
    background: npt.NDArray[np.float32] | None = None
    last_inference: float | None = None
    checked: int = 0
    skipped: int = 0
    changed_fraction: float = 0.0

    def check(self, frame: npt.NDArray[np.uint8], now: float) -> bool:
        """True when the frame must go through the detector (motion, first frame, or due)."""
        small = _small_gray(frame)
        self.checked += 1
        if self.background is None or self.background.shape != small.shape:
            self.background = small
            self.changed_fraction = 1.0
            moved = True
        else:
            difference = np.abs(small - self.background)
            self.changed_fraction = float(np.mean(difference > self.params.pixel_threshold))
            moved = self.changed_fraction >= self.params.min_changed_fraction
            cv2.accumulateWeighted(small, self.background, self.params.learning_rate)
        due = self.last_inference is None or now - self.last_inference >= self.params.max_skip_s
        if moved or due:
            self.last_inference = now
            return True
        self.skipped += 1
        return False


def _small_gray(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = gray.shape[:2]
    size = (WIDTH, max(1, round(height * WIDTH / width)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), np.float32)
