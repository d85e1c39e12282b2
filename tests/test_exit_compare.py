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


def blockwise_fraction(reference: np.ndarray, current: np.ndarray, mask: np.ndarray) -> float:
    """The comparison written plainly (full-frame medians, numpy block passes): the figures
    the faster ``differing_fraction`` must reproduce."""
    block = 16
    ys, xs = np.nonzero(mask)
    top, left = ys.min(), xs.min()
    height = (ys.max() - top + block) // block * block
    width = (xs.max() - left + block) // block * block

    def crop(image: np.ndarray) -> np.ndarray:
        out = np.zeros((height, width), np.float64)
        piece = image[top : top + height, left : left + width]
        out[: piece.shape[0], : piece.shape[1]] = piece
        return out

    outside = ~mask
    pick = outside if outside.sum() >= mask.sum() // 4 else mask
    gain = max(float(np.median(current[pick])) / max(float(np.median(reference[pick])), 1.0), 1e-3)
    r, c, m = crop(reference), crop(current) / gain, crop(mask.astype(np.float64))
    rows, cols = height // block, width // block

    def blocks(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows, block, cols, block).transpose(0, 2, 1, 3)

    r, c, m = blocks(r), blocks(c), blocks(m)
    coverage = m.mean(axis=(2, 3))
    mean_r, mean_c = r.mean(axis=(2, 3)), c.mean(axis=(2, 3))
    dr, dc = r - mean_r[..., None, None], c - mean_c[..., None, None]
    std_r, std_c = np.sqrt((dr**2).mean(axis=(2, 3))), np.sqrt((dc**2).mean(axis=(2, 3)))
    correlation = (dr * dc).mean(axis=(2, 3)) / (std_r * std_c + 1e-6)
    differs = ((np.maximum(std_r, std_c) > 6.0) & (correlation < 0.5)) | (
        np.abs(mean_c - mean_r) > 0.2 * np.maximum(mean_r, 20.0)
    )
    considered = coverage >= 0.5
    return float((coverage * differs)[considered].sum()) / float(coverage[considered].sum())


@pytest.mark.parametrize(
    ("share", "gain", "seed"),
    [(0.0, 1.0, 1), (0.3, 1.0, 2), (0.6, 0.6, 3), (1.0, 1.5, 4), (0.45, 0.8, 5)],
)
def test_fast_comparison_measures_what_the_plain_one_does(
    share: float, gain: float, seed: int
) -> None:
    reference = to_gray(corridor(0))
    scene = with_box(corridor(seed), share) if share else corridor(seed)
    current = to_gray(np.clip(scene.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    mask = ZONE.mask(W, H)
    fast = differing_fraction(reference, current, mask)
    assert fast == pytest.approx(blockwise_fraction(reference, current, mask), abs=0.03)


def test_the_reference_brightness_is_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference serves every check: its median is taken once, not on every check."""
    reference = to_gray(corridor(0))
    mask = ZONE.mask(W, H)
    medians: list[int] = []
    real_median = np.median

    def counting(values: np.ndarray, *args: object, **kwargs: object) -> object:
        medians.append(values.size)
        return real_median(values, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(np, "median", counting)
    for seed in range(1, 5):
        differing_fraction(reference, to_gray(corridor(seed)), mask)
    assert len(medians) == 5  # the reference's once, then each current image's
