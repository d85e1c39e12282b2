"""Motion gating on synthetic frames: static scenes skip inference, movement and lights do not."""

from __future__ import annotations

import numpy as np
import pytest

from detect.motion import MotionGate, MotionParams

H, W = 360, 640


def scene(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, (H // 8, W // 8, 3), np.uint8)
    return np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), np.uint8)))


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    noise = rng.normal(0, sigma, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def run(frames: list[np.ndarray], period_s: float = 0.5, **params: float) -> list[bool]:
    gate = MotionGate(MotionParams(**params))
    return [gate.check(frame, index * period_s) for index, frame in enumerate(frames)]


def test_static_scene_with_sensor_noise_is_skipped_but_refreshed() -> None:
    rng = np.random.default_rng(0)
    still = scene()
    decisions = run([noisy(still, rng) for _ in range(40)], max_skip_s=5.0)
    assert decisions[0]  # the first frame always runs
    assert sum(decisions) == 4  # then once every 5 s of a 20 s still scene
    assert decisions[10] and decisions[20] and decisions[30]


def test_a_person_walking_through_runs_inference() -> None:
    rng = np.random.default_rng(0)
    frames = []
    for index in range(12):
        frame = noisy(scene(), rng)
        x = 40 + index * 40
        frame[150:250, x : x + 30] = (30, 30, 200)
        frames.append(frame)
    assert all(run(frames))


def test_a_small_flicker_in_one_corner_runs_inference() -> None:
    frames = []
    for index in range(8):
        frame = scene()
        if index % 2:
            frame[10:40, 10:30] = (0, 140, 255)  # 600 px: 0.26 % of the frame
        frames.append(frame)
    decisions = run(frames, max_skip_s=100.0)
    assert all(decisions[1::2])


@pytest.mark.parametrize("gain", [0.5, 1.6])
def test_lights_switching_count_as_motion(gain: float) -> None:
    still = scene()
    switched = np.clip(still.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    decisions = run([still, still, switched], max_skip_s=100.0)
    assert decisions == [True, False, True]


def test_grey_frames_are_accepted() -> None:
    still = scene()[:, :, 0]
    assert run([still, still], max_skip_s=100.0) == [True, False]


def test_counts_skipped_frames() -> None:
    gate = MotionGate(MotionParams(max_skip_s=100.0))
    still = scene()
    for index in range(10):
        gate.check(still, float(index))
    assert (gate.checked, gate.skipped) == (10, 9)
