"""CCTV-like training fires (lab.composites): the flame's own background falls away, no crop
edge survives, a flame that would not stand out is refused, and the label is the flame's box."""

from __future__ import annotations

import numpy as np
import pytest

from lab.composites import Flame, blend, composite, flame_mask


def _fire_photo() -> np.ndarray:
    """A dark photo with an orange flame-shaped blob in the middle (BGR)."""
    photo = np.full((80, 60, 3), 30, np.uint8)
    yy, xx = np.mgrid[:80, :60]
    inside = ((xx - 30) / 14) ** 2 + ((yy - 45) / 25) ** 2 <= 1
    photo[inside] = (40, 150, 250)
    return photo


def test_the_mask_keeps_the_flame_and_drops_its_background_and_edges() -> None:
    photo = _fire_photo()
    mask = flame_mask(photo)
    assert mask[45, 30] > 0.8  # the flame
    assert mask[5, 5] == pytest.approx(0, abs=0.01)  # the photo's dark background
    assert np.abs(mask[0, :]).max() < 0.05 and np.abs(mask[:, 0]).max() < 0.05  # no edge


def test_a_blended_flame_is_labelled_with_its_own_box() -> None:
    photo = _fire_photo()
    flame = Flame(photo, flame_mask(photo), "test")
    frame = np.full((360, 640, 3), (90, 80, 70), np.uint8)  # a grey-blue wall
    out, box = blend(frame, flame, (300, 200), 80, np.random.default_rng(0))
    assert box is not None
    x0, y0, x1, y1 = box
    assert 300 <= x0 < x1 <= 360 and 200 <= y0 < y1 <= 280
    assert 310 < (x0 + x1) / 2 < 350 and 225 < (y0 + y1) / 2 < 265  # the blob, not the crop
    changed = np.abs(out.astype(int) - frame.astype(int)).max(axis=2) > 20
    assert changed[int(y0) : int(y1), int(x0) : int(x1)].any()
    assert not changed[:150].any()  # nothing outside the flame's neighbourhood


def test_a_flame_that_does_not_stand_out_is_refused() -> None:
    photo = _fire_photo()
    flame = Flame(photo, flame_mask(photo), "test")
    same = np.zeros((360, 640, 3), np.uint8)
    same[:] = (40, 150, 250)  # a wall of the flame's own colour
    out, box = blend(same, flame, (300, 200), 80, np.random.default_rng(0))
    assert box is None
    assert np.array_equal(out, same)


def test_composites_stay_in_the_frame_and_never_enlarge_a_flame() -> None:
    photo = _fire_photo()
    flames = [Flame(photo, flame_mask(photo), "test")]
    frame = np.full((360, 640, 3), (90, 80, 70), np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(20):
        _image, boxes = composite(frame, flames, rng, 2)
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
            assert y1 - y0 <= photo.shape[0]
