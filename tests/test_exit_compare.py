"""Structural comparison of an exit zone with its reference image (synthetic frames)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.vocabulary import ZoneKind
from detect.exit_compare import differing_fraction, to_gray
from detect.zones import ZoneShape

W, H = 320, 240
ZONE = ZoneShape("exit", ZoneKind.EXIT, ((0.25, 0.4), (0.75, 0.4), (0.75, 0.95), (0.25, 0.95)))


def corridor(seed: int = 0) -> np.ndarray:
    """A textured floor with tiles, so blocks carry structure."""
    rng = np.random.default_rng(seed)
    image = np.full((H, W, 3), 120, np.uint8)
    for x in range(0, W, 20):
        cv2.line(image, (x, 0), (x, H), (90, 90, 90), 1)
    for y in range(0, H, 20):
        cv2.line(image, (0, y), (W, y), (90, 90, 90), 1)
    noise = rng.normal(0, 2, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def with_box(image: np.ndarray, share: float) -> np.ndarray:
    out = image.copy()
    x0, y0, x1, y1 = int(0.25 * W), int(0.4 * H), int(0.75 * W), int(0.95 * H)
    width = int((x1 - x0) * share)
    cv2.rectangle(out, (x0, y0), (x0 + width, y1), (40, 80, 150), -1)
    for y in range(y0, y1, 12):
        cv2.line(out, (x0, y), (x0 + width, y), (20, 50, 110), 2)
    return out


def fraction(reference: np.ndarray, current: np.ndarray) -> float:
    return differing_fraction(to_gray(reference), to_gray(current), ZONE.mask(W, H))


def test_same_scene_with_new_noise_is_clear() -> None:
    assert fraction(corridor(0), corridor(1)) < 0.05


@pytest.mark.parametrize("gain", [0.5, 0.7, 1.4, 1.8])
def test_lights_dimmed_or_brightened_is_clear(gain: float) -> None:
    lit = np.clip(corridor(1).astype(np.float32) * gain, 0, 255).astype(np.uint8)
    assert fraction(corridor(0), lit) < 0.1


@pytest.mark.parametrize("share", [0.3, 0.6, 1.0])
def test_obstacle_share_is_measured(share: float) -> None:
    measured = fraction(corridor(0), with_box(corridor(1), share))
    assert measured == pytest.approx(share, abs=0.12)


def test_obstacle_is_seen_under_different_light() -> None:
    dim = np.clip(with_box(corridor(1), 0.8).astype(np.float32) * 0.6, 0, 255).astype(np.uint8)
    assert fraction(corridor(0), dim) > 0.6


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        differing_fraction(to_gray(corridor()), to_gray(corridor()[:100]), ZONE.mask(W, H))
