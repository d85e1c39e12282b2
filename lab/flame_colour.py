"""Colour check of fire and smoke boxes: does the box hold the colours of flames or smoke?

A cheap, per-frame check against detector false positives on things that are shaped like flames
but are not coloured like them (a red-orange hard hat is coloured like them; a yellow vest in
grey light may not be):

- A ``fire`` box passes when at least ``min_fire_share`` of its pixels are flame-coloured, by
  the rule of Chen, Wu and Chiou (2004): red ``R >= red_min``, ``R >= G > B``, and HSV saturation
  ``S >= (255 - R) * saturation_slope`` (a flame's core is nearly white, so the saturation it
  needs falls as red rises).
- A ``smoke`` box passes when at least ``min_smoke_share`` of its pixels are grey: channel spread
  ``max - min <= grey_spread`` at a brightness between ``grey_min`` and ``grey_max``.
- Every other class passes untouched.

The thresholds are the literature's, fixed before any measurement (``bench.rules_eval``
measures them on the validation images; they are not tuned on them). The check reads only the
pixels inside each box, so it costs next to nothing at the rules' frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detect.detections import Detections

Image = npt.NDArray[np.uint8]
Shares = npt.NDArray[np.float32]
Keep = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ColourParams:
    """Thresholds of the check (grey levels 0..255)."""

    red_min: int = 125  # Chen et al. R_T: 115..135
    saturation_slope: float = 60 / 125  # Chen et al. S_T / R_T, S_T: 55..65
    min_fire_share: float = 0.05  # of a fire box's pixels
    grey_spread: int = 30  # max - min channel of a grey pixel
    grey_min: int = 40  # thick smoke is dark, thin smoke is light
    grey_max: int = 235
    min_smoke_share: float = 0.25  # of a smoke box's pixels
    fire_class: str = "fire"
    smoke_class: str = "smoke"

    def __post_init__(self) -> None:
        for name in ("min_fire_share", "min_smoke_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must lie within 0..1, got {value}")
        if not 0 <= self.grey_min <= self.grey_max <= 255:
            raise ValueError(
                f"need 0 <= grey_min <= grey_max <= 255, got {self.grey_min}, {self.grey_max}"
            )


def _crop(image: Image, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """The box's pixels as int32 BGR (an empty array for a box outside the image)."""
    height, width = image.shape[:2]
    x0, y0 = max(0, int(np.floor(xyxy[0]))), max(0, int(np.floor(xyxy[1])))
    x1, y1 = min(width, int(np.ceil(xyxy[2]))), min(height, int(np.ceil(xyxy[3])))
    return image[y0:y1, x0:x1].reshape(-1, 3).astype(np.int32)


def fire_share(pixels: npt.NDArray[np.int32], params: ColourParams) -> float:
    """Share (0..1) of the BGR ``pixels`` (n, 3) that are flame-coloured."""
    if len(pixels) == 0:
        return 0.0
    b, g, r = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    top = pixels.max(axis=1)
    saturation = 255 * (top - pixels.min(axis=1)) / np.maximum(top, 1)
    flame = (r >= params.red_min) & (r >= g) & (g > b)
    flame &= saturation >= (255 - r) * params.saturation_slope
    return float(flame.mean())


def grey_share(pixels: npt.NDArray[np.int32], params: ColourParams) -> float:
    """Share (0..1) of the BGR ``pixels`` (n, 3) that are smoke-grey."""
    if len(pixels) == 0:
        return 0.0
    top, bottom = pixels.max(axis=1), pixels.min(axis=1)
    brightness = pixels.mean(axis=1)
    grey = (top - bottom <= params.grey_spread) & (brightness >= params.grey_min)
    grey &= brightness <= params.grey_max
    return float(grey.mean())


def colour_shares(detections: Detections, image: Image, params: ColourParams) -> Shares:
    """Per box, the share of its pixels in its class's colours (1.0 for other classes)."""
    shares = np.ones(len(detections), np.float32)
    for index, (label, xyxy) in enumerate(zip(detections.labels, detections.xyxy, strict=True)):
        if label == params.fire_class:
            shares[index] = fire_share(_crop(image, xyxy), params)
        elif label == params.smoke_class:
            shares[index] = grey_share(_crop(image, xyxy), params)
    return shares


def colour_plausible(detections: Detections, image: Image, params: ColourParams) -> Keep:
    """Per box, whether it passes the check (other classes always do)."""
    shares = colour_shares(detections, image, params)
    labels = np.array(detections.labels, dtype=object)
    need = np.where(
        labels == params.fire_class,
        params.min_fire_share,
        np.where(labels == params.smoke_class, params.min_smoke_share, 0.0),
    )
    return np.asarray(shares >= need, dtype=np.bool_)


def keep_plausible(detections: Detections, image: Image, params: ColourParams) -> Detections:
    """The detections without the fire and smoke boxes that fail the check."""
    if len(detections) == 0:
        return detections
    return detections[colour_plausible(detections, image, params)]
