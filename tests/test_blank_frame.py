"""Featureless frames (covered or black cameras) are told apart from real, even dark, scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detect.blank_frame import is_featureless
from sitewatch.demo.scene import SceneSpec, iter_frames


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return next(iter_frames(SceneSpec(width=640, height=360, fps=1, duration_s=1.0)))


@pytest.mark.parametrize("level", [0, 40, 128, 230])
def test_uniform_frames_with_sensor_noise_are_featureless(level: int) -> None:
    rng = np.random.default_rng(level)
    frame = np.clip(rng.normal(level, 2.0, (360, 640, 3)), 0, 255).astype(np.uint8)
    assert is_featureless(frame)


def test_a_real_scene_is_not(scene: np.ndarray) -> None:
    assert not is_featureless(scene)


def test_the_scene_with_the_lights_nearly_off_is_not(scene: np.ndarray) -> None:
    dark = np.asarray(scene * 0.15, np.uint8)
    assert not is_featureless(dark)


def test_a_small_flame_in_a_black_frame_is_not() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    cv2.ellipse(frame, (320, 200), (18, 30), 0, 0, 360, (40, 160, 255), -1)
    assert not is_featureless(frame)
