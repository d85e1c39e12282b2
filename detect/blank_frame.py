"""Featureless frames: a covered, blinded or black camera.

The detector reads uniform frames as smoke (a black frame scores 0.73, a light grey one 0.94), so
the flame rule must not see detections from them. A frame is featureless when its downscaled grey
image has almost no contrast and almost no edges; a dark scene with a flame in it has both.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

WIDTH = 160
MAX_STD = 6.0  # grey levels
MAX_EDGE_SHARE = 0.002  # share of pixels on a Canny edge


def is_featureless(frame: npt.NDArray[np.uint8]) -> bool:
    """True for a frame with no contrast and no edges (black, grey, covered lens)."""
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = gray.shape[:2]
    size = (WIDTH, max(1, round(height * WIDTH / width)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    if float(small.std()) > MAX_STD:
        return False
    edges = cv2.Canny(small, 20, 60)
    return float(np.count_nonzero(edges)) / edges.size <= MAX_EDGE_SHARE
