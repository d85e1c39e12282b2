"""The YOLOX person finder: layout recognition, decoding arithmetic and a real photograph."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from detect.engine import ModelError
from detect.model_format import ModelFormat
from detect.model_probe import describe_model
from detect.yolox import BOX_VALUES, COCO_NAMES, STRIDES, YoloxDetector, anchor_count

ROOT = Path(__file__).resolve().parents[1]
PERSONS = ROOT / "models" / "persons.onnx"
HAZARDS = ROOT / "models" / "hazards.onnx"
HOPPER = ROOT / "tests" / "fixtures" / "people" / "grace_hopper.jpg"
SHARED_PICTURE = (
    ROOT.parent
    / "shared"
    / "datasets"
    / "hazards"
    / "images"
    / "val"
    / "hardhat_006221_jpg.rf.a3a2f171c3a8efd1583399ecb34fc6d3.jpg"
)


@pytest.fixture(scope="module")
def finder() -> YoloxDetector:
    return YoloxDetector(PERSONS, confidence=0.3, use_classes=())


def test_the_bundled_person_finder_is_recognised_as_yolox() -> None:
    info = describe_model(PERSONS)
    assert info.format is ModelFormat.YOLOX
    assert (info.input_size, info.fixed_input, info.class_names) == (416, True, COCO_NAMES)
    assert describe_model(HAZARDS).format is ModelFormat.ULTRALYTICS
    assert anchor_count(416) == 3549


def test_an_ultralytics_export_is_not_taken_for_yolox() -> None:
    with pytest.raises(ModelError, match="not a YOLOX detect model"):
        YoloxDetector(HAZARDS)


def test_unknown_classes_and_sizes_are_refused() -> None:
    with pytest.raises(ModelError, match=r"use_classes \['worker'\]"):
        YoloxDetector(PERSONS, use_classes=("person", "worker"))
    with pytest.raises(ModelError, match="416 px"):
        YoloxDetector(PERSONS, input_size=640)
    with pytest.raises(ModelError, match="80 classes but 1 class names"):
        YoloxDetector(PERSONS, class_names=("person",))


def _anchor(stride: int, cell_x: int, cell_y: int) -> int:
    """Row of the anchor of ``stride`` at grid cell (cell_x, cell_y) in a 416 px output."""
    row = 0
    for s in STRIDES:
        side = 416 // s
        if s == stride:
            return row + cell_y * side + cell_x
        row += side * side
    raise AssertionError(stride)


def _raw(*anchors: tuple[int, float, float, float, int, float]) -> npt.NDArray[np.float32]:
    """A raw output: rows (anchor, offset, log size, objectness, class, class score)."""
    out = np.zeros((anchor_count(416), BOX_VALUES + len(COCO_NAMES)), np.float32)
    for row, offset, log_size, objectness, class_id, score in anchors:
        out[row, :2] = offset
        out[row, 2:4] = log_size
        out[row, 4] = objectness
        out[row, BOX_VALUES + class_id] = score
    return out


CHAIR = COCO_NAMES.index("chair")


@pytest.mark.parametrize(
    ("anchors", "scale", "size_wh", "expected"),
    [
        pytest.param(
            # stride 8, cell (10, 5), offset 0.5, size e^log(4) * 8 = 32 px: centre (84, 44)
            [(_anchor(8, 10, 5), 0.5, float(np.log(4)), 0.9, 0, 0.9)],
            0.5,
            (832, 832),
            [("person", 0.81, (136.0, 56.0, 200.0, 120.0))],
            id="grid decode, then back to frame pixels",
        ),
        pytest.param(
            # stride 32, cell (2, 3), no offset: centre (64, 96), 64 px
            [(_anchor(32, 2, 3), 0.0, float(np.log(2)), 0.8, 0, 1.0)],
            1.0,
            (416, 416),
            [("person", 0.8, (32.0, 64.0, 96.0, 128.0))],
            id="the coarsest stride",
        ),
        pytest.param(
            [(_anchor(8, 0, 0), 0.0, float(np.log(4)), 0.9, 0, 0.9)],
            1.0,
            (416, 416),
            [("person", 0.81, (0.0, 0.0, 16.0, 16.0))],
            id="clipped to the frame",
        ),
        pytest.param(
            [(_anchor(16, 4, 4), 0.5, 0.0, 0.5, 0, 0.5)],
            1.0,
            (416, 416),
            [],
            id="score = objectness x class score, below the floor",
        ),
        pytest.param(
            [(_anchor(16, 4, 4), 0.5, 0.0, 0.9, CHAIR, 0.9)],
            1.0,
            (416, 416),
            [],
            id="a class not in use_classes",
        ),
        pytest.param(
            [
                (_anchor(16, 4, 4), 0.5, float(np.log(3)), 0.9, 0, 0.9),
                (_anchor(16, 4, 4) + 1, 0.4, float(np.log(3)), 0.9, 0, 0.8),
            ],
            1.0,
            (416, 416),
            [("person", 0.81, (48.0, 48.0, 96.0, 96.0))],
            id="two anchors on one person: NMS keeps the better",
        ),
    ],
)
def test_decode(
    anchors: list[tuple[int, float, float, float, int, float]],
    scale: float,
    size_wh: tuple[int, int],
    expected: list[tuple[str, float, tuple[float, ...]]],
) -> None:
    detector = YoloxDetector(PERSONS, confidence=0.3)
    found = detector.decode(_raw(*anchors), scale, *size_wh)
    got = [
        (label, round(float(score), 2), tuple(round(float(v), 1) for v in box))
        for label, score, box in zip(found.labels, found.confidence, found.xyxy, strict=True)
    ]
    assert got == expected


def test_a_real_photograph(finder: YoloxDetector) -> None:
    """A public-domain portrait (tests/fixtures/people): the person and her tie, where they
    are; and shifted by as much when the picture moves right on a square canvas of the same
    height (same scale: the letterbox arithmetic)."""
    picture = cv2.imread(str(HOPPER))
    assert picture is not None
    found = finder.detect(picture)
    by_class = {
        label: (float(s), box)
        for label, s, box in zip(found.labels, found.confidence, found.xyxy, strict=True)
    }
    assert set(by_class) == {"person", "tie"}
    person_score, person = by_class["person"]
    tie_score, tie = by_class["tie"]
    assert person_score > 0.9 and tie_score > 0.8
    assert person == pytest.approx([4, 21, 256, 293], abs=6)
    assert tie == pytest.approx([111, 204, 148, 266], abs=6)
    canvas = np.full((300, 300, 3), 90, np.uint8)
    canvas[:, 44:] = picture
    shifted = finder.detect(canvas).of_class("person")
    assert len(shifted) == 1
    assert shifted.xyxy[0] == pytest.approx(person + np.array([44, 0, 44, 0]), abs=6)


def test_batches_give_the_same_boxes_as_single_frames(finder: YoloxDetector) -> None:
    picture = cv2.imread(str(HOPPER))
    assert picture is not None
    frames = [picture, cv2.flip(picture, 1), np.zeros((90, 160, 3), np.uint8)]
    batched = finder.detect_batch(frames)
    assert [len(d) for d in batched] == [len(finder.detect(f)) for f in frames]
    for one, many in zip((finder.detect(f) for f in frames), batched, strict=True):
        np.testing.assert_allclose(one.xyxy, many.xyxy, atol=1e-3)
    assert len(batched[2]) == 0


@pytest.mark.skipif(
    not SHARED_PICTURE.is_file(), reason="the shared validation pictures are outside the repo"
)
def test_workers_on_a_site_photograph_are_found_with_their_heads_on_top(
    finder: YoloxDetector,
) -> None:
    """A hard-hat validation picture (two helmets, two bare heads): every labelled head lies in
    the top third of a person box."""
    picture = cv2.imread(str(SHARED_PICTURE))
    assert picture is not None
    height, width = picture.shape[:2]
    label = SHARED_PICTURE.parents[2] / "labels" / "val" / f"{SHARED_PICTURE.stem}.txt"
    rows = np.loadtxt(label, ndmin=2)
    centres = rows[:, 1:3] * [width, height]
    people = finder.detect(picture).of_class("person")
    people = people[people.confidence >= 0.5]
    x1, y1, x2, y2 = people.xyxy.T
    top = y1 + (y2 - y1) / 3
    for cx, cy in centres:
        assert ((x1 <= cx) & (cx <= x2) & (y1 <= cy) & (cy <= top)).any(), (cx, cy)
