"""How much of an exit zone differs structurally from its reference image of the clear exit.

Robust to lighting: a block differs when its texture no longer correlates with the reference
(normalised cross-correlation, immune to gain and offset) or when its mean brightness changed after
the scene's global brightness change, measured outside the zone, is divided out. Sensor noise is
smoothed away first.

Cost (720p, ``python -m bench.exit_check``): the block statistics are area-resampled sums of
the zone crop (one OpenCV pass each instead of numpy passes over a transposed view), and the
global brightness is the median of a 1-in-16 pixel sample outside the zone, computed once per
grey image (a reference's, or the previous check's current image, is reused).
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np
import numpy.typing as npt

from detect.zones import Mask

Gray = npt.NDArray[np.float32]
BLOCK = 16
TEXTURE_STD = 6.0  # grey levels: below this a block counts as flat
MIN_CORRELATION = 0.5
MEAN_CHANGE = 0.2  # share of the reference mean
GAIN_STRIDE = 4  # the brightness median samples every 4th pixel of every 4th row


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
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0.0
    cols = np.flatnonzero(mask.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    height = (int(rows[-1]) - top + block) // block * block
    width = (int(cols[-1]) - left + block) // block * block
    ref = _crop(reference, top, left, height, width).astype(np.float64)
    cur = _crop(current, top, left, height, width).astype(np.float64)
    zone = mask[top : top + height, left : left + width].astype(np.float32)
    inside = _crop(zone, 0, 0, height, width)

    cur /= _lighting_gain(reference, current, mask)

    coverage = _block_means(inside, block)
    mean_r, mean_c = _block_means(ref, block), _block_means(cur, block)
    std_r = np.sqrt(np.maximum(_block_means(ref * ref, block) - mean_r**2, 0.0))
    std_c = np.sqrt(np.maximum(_block_means(cur * cur, block) - mean_c**2, 0.0))
    covariance = _block_means(ref * cur, block) - mean_r * mean_c
    correlation = covariance / (std_r * std_c + 1e-6)
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
    gain = _MEDIANS.of(current, mask) / max(_MEDIANS.of(reference, mask), 1.0)
    return max(gain, 1e-3)


def _brightness_pick(mask: Mask) -> Mask:
    """The pixels the brightness is measured on: outside the zone, unless too few are."""
    outside = ~mask
    return outside if outside.sum() >= mask.sum() // 4 else mask


class _SampledMedians:
    """Median grey level of an image outside a zone (a 1-in-16 pixel sample), remembered for
    the last few (image, mask) pairs: a reference serves every check, and a check's current
    image is the next check's previous one."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._known: dict[tuple[int, int], tuple[weakref.ref[Gray], weakref.ref[Mask], float]] = {}

    def of(self, image: Gray, mask: Mask) -> float:
        """The median of ``image`` over ``_brightness_pick(mask)``, sampled."""
        key = (id(image), id(mask))
        known = self._known.get(key)
        if known is not None and known[0]() is image and known[1]() is mask:
            return known[2]
        pick = _brightness_pick(mask)[::GAIN_STRIDE, ::GAIN_STRIDE]
        sample = image[::GAIN_STRIDE, ::GAIN_STRIDE][pick]
        if not sample.size:  # a tiny zone: every pixel of it
            sample = image[_brightness_pick(mask)]
        median = float(np.median(sample))
        if len(self._known) >= self._size:
            self._known = {k: v for k, v in self._known.items() if v[0]() is not None}
            while len(self._known) >= self._size:
                self._known.pop(next(iter(self._known)))
        self._known[key] = (weakref.ref(image), weakref.ref(mask), median)
        return median


_MEDIANS = _SampledMedians()


def _block_means(image: npt.NDArray[np.floating], block: int) -> npt.NDArray[np.float64]:
    """Mean of each ``block`` x ``block`` tile (the image's sides are multiples of ``block``)."""
    rows, cols = image.shape[0] // block, image.shape[1] // block
    return np.asarray(cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA), np.float64)


def _crop(image: Gray, top: int, left: int, height: int, width: int) -> Gray:
    out = np.zeros((height, width), dtype=np.float32)
    piece = image[top : top + height, left : left + width]
    out[: piece.shape[0], : piece.shape[1]] = piece
    return out
