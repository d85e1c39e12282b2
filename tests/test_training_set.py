"""The training-set builder's parts: near-duplicates, head masks, label lines, footage frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detect.detections import Detections
from detect.engine import PAD_VALUE
from lab.training_set import NearDuplicates, dhash, fit, hamming, head_masked, yolo_line
from sitewatch.demo.video_file import write_camera_video


def picture(seed: int, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (size[0] // 20, size[1] // 20, 3), np.uint8)
    return np.asarray(np.kron(coarse, np.ones((20, 20, 1), np.uint8)), np.uint8)


def test_a_recompressed_or_noisy_copy_is_a_near_duplicate_and_another_picture_is_not() -> None:
    original = picture(0)
    noisy = np.clip(original + np.random.default_rng(1).normal(0, 3, original.shape), 0, 255)
    other = picture(2)
    assert hamming(dhash(original), dhash(noisy.astype(np.uint8))) <= 4
    assert hamming(dhash(original), dhash(other)) > 10
    seen = NearDuplicates(bits=4)
    assert [seen.seen(dhash(p)) for p in (original, noisy.astype(np.uint8), other)] == [
        False,
        True,
        False,
    ]


def test_head_regions_of_people_are_painted_grey_and_the_rest_is_kept() -> None:
    image = np.full((200, 200, 3), 10, np.uint8)
    person = Detections(
        np.array([[50, 40, 90, 190]], np.float32),
        np.array([0.9], np.float32),
        np.array([0], np.int32),
        ("person",),
    )
    masked = head_masked(image, person)
    assert (masked[45, 70] == PAD_VALUE).all()  # the head, top of the box
    assert (masked[150, 70] == 10).all()  # the body stays (vests are fire negatives)
    assert (masked[20, 150] == 10).all()
    assert (image == 10).all()  # the input is not changed


@pytest.mark.parametrize(
    ("box", "line"),
    [
        ((0, 0, 100, 50), "1 0.250000 0.250000 0.500000 0.500000"),
        ((100, 50, 200, 100), "1 0.750000 0.750000 0.500000 0.500000"),
    ],
)
def test_label_lines_are_normalised_centre_and_size(
    box: tuple[float, float, float, float], line: str
) -> None:
    assert yolo_line(1, box, 200, 100) == line


def test_fit_caps_the_longest_side() -> None:
    assert fit(picture(0, (400, 800)), 640).shape[:2] == (320, 640)
    small = picture(0)
    assert fit(small, 640) is small


def test_footage_frames_are_taken_every_interval_of_the_clip_s_own_time(tmp_path: Path) -> None:
    from lab.training_set import clip_frames

    video = tmp_path / "clip.mp4"
    frames = [picture(i % 3) for i in range(20)]  # 2 s at 10 fps
    write_camera_video(video, iter(frames), 10, (160, 120))
    times = [at for at, _image in clip_frames(video, 0.5)]
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5], abs=0.01)
