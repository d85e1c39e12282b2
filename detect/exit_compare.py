"""How much of an exit zone differs structurally from its reference image of the clear exit.

Robust to lighting: a block differs when its texture no longer correlates with the reference
(normalised cross-correlation, immune to gain and offset) or when its mean brightness changed after
the scene's global brightness change, measured outside the zone, is divided out. Sensor noise is
smoothed away first.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from detect.zones import Mask

Gray = npt.NDArray[np.float32]
BLOCK = 16
TEXTURE_STD = 6.0  # grey levels: below this a block counts as flat
MIN_CORRELATION = 0.5
MEAN_CHANGE = 0.2  # share of the reference mean


def to_gray(image: npt.NDArray[np.uint8]) -> Gray:
    """Blurred float32 grey image used for comparisons."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return np.asarray(cv2.GaussianBlur(gray.astype(np.float32), (5, 5), 0), dtype=np.float32)


def differing_fraction(reference: Gray, current: Gray, mask: Mask, block: int = BLOCK) -> float:
    """Share (0..1) of the masked zone whose blocks differ from the reference."""
    if reference.shape != current.shape or reference.shape != mask.shape:
        raise ValueError(
            f"shape mismatch: reference {reference.shape}, current {current.shape}, "
            f"mask {mask.shape}"
        )
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0.0
    top, left = ys.min(), xs.min()
    height = (ys.max() - top + block) // block * block
    width = (xs.max() - left + block) // block * block
    ref = _crop(reference, top, left, height, width)
    cur = _crop(current, top, left, height, width)
    inside = _crop(mask.astype(np.float32), top, left, height, width)

    cur = cur / _lighting_gain(reference, current, mask)

    r, c, m = (_blocks(a, block) for a in (ref, cur, inside))
    coverage = m.mean(axis=(2, 3))
    mean_r, mean_c = r.mean(axis=(2, 3)), c.mean(axis=(2, 3))
    dr = r - mean_r[..., None, None]
    dc = c - mean_c[..., None, None]
    std_r = np.sqrt((dr**2).mean(axis=(2, 3)))
    std_c = np.sqrt((dc**2).mean(axis=(2, 3)))
    correlation = (dr * dc).mean(axis=(2, 3)) / (std_r * std_c + 1e-6)
    textured = np.maximum(std_r, std_c) > TEXTURE_STD
    mean_change = np.abs(mean_c - mean_r) > MEAN_CHANGE * np.maximum(mean_r, 20.0)
    differs = (textured & (correlation < MIN_CORRELATION)) | mean_change
    considered = coverage >= 0.5
    total = float(coverage[considered].sum())
    if total == 0.0:
        return 0.0
    return float((coverage * differs)[considered].sum()) / total


def _lighting_gain(reference: Gray, current: Gray, mask: Mask) -> float:
    """Global brightness change, measured outside the zone so an obstacle cannot hide in it."""
    outside = ~mask
    pick = outside if outside.sum() >= mask.sum() // 4 else mask
    gain = float(np.median(current[pick])) / max(float(np.median(reference[pick])), 1.0)
    return max(gain, 1e-3)


def _crop(image: Gray, top: int, left: int, height: int, width: int) -> Gray:
    out = np.zeros((height, width), dtype=np.float32)
    piece = image[top : top + height, left : left + width]
    out[: piece.shape[0], : piece.shape[1]] = piece
    return out


def _blocks(image: Gray, block: int) -> Gray:
    rows, cols = image.shape[0] // block, image.shape[1] // block
    return image.reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
