"""The ONNX Runtime engine: same boxes as ultralytics, batching, bad models and bad frames."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect.detections import Detections
from detect.engine import (
    FrameError,
    ModelError,
    OnnxDetector,
    as_bgr,
    plan_letterbox,
    session_options,
)
from detect.model_probe import describe_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "hazards.onnx"
FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden"
TINY = FIXTURES / "models"


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    image = cv2.imread(str(GOLDEN / "scene.jpg"))
    assert image is not None
    return np.asarray(image)


@pytest.fixture(scope="module")
def golden() -> dict[str, object]:
    data = json.loads((GOLDEN / "hazards.json").read_text())
    assert isinstance(data, dict)
    digest = hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    assert data["model_sha256"] == digest, (
        "models/hazards.onnx changed: regenerate the golden file with "
        "`.venv-train/bin/python -m tests.fixtures.golden.make_golden`"
    )
    return data


@pytest.mark.parametrize("size", ["320", "640"])
def test_boxes_match_ultralytics_predict(
    size: str, scene: np.ndarray, golden: dict[str, object]
) -> None:
    results = golden["results"]
    assert isinstance(results, dict)
    expected = results[size]
    assert len(expected) >= 3, "the golden image should give a few detections to compare"
    confidence = golden["confidence"]
    assert isinstance(confidence, float)
    detector = OnnxDetector(DEFAULT_MODEL, input_size=int(size), confidence=confidence)
    found = detector.detect(scene)
    assert len(found) == len(expected)
    want_xyxy = np.array([row["xyxy"] for row in expected], np.float32)
    want_class = np.array([row["class_id"] for row in expected])
    want_conf = np.array([row["confidence"] for row in expected], np.float32)
    assert np.array_equal(found.class_id, want_class)
    assert np.abs(found.xyxy - want_xyxy).max() <= 1.0
    assert np.abs(found.confidence - want_conf).max() <= 1e-3


def test_default_model_describes_itself() -> None:
    info = describe_model(DEFAULT_MODEL)
    assert set(info.class_names) >= {"fire", "smoke", "helmet", "head"}
    assert not info.fixed_input
    assert info.input_size % 32 == 0


def test_batch_gives_the_same_result_as_single_frames(scene: np.ndarray) -> None:
    detector = OnnxDetector(DEFAULT_MODEL, confidence=0.01)
    small = cv2.resize(scene, (480, 270))
    portrait = np.ascontiguousarray(scene[:, :400])
    frames = [scene, small, portrait, scene]
    batched = detector.detect_batch(frames)
    for frame, result in zip(frames, batched, strict=True):
        single = detector.detect(frame)
        assert len(single) == len(result)
        assert np.allclose(single.xyxy, result.xyxy, atol=0.01)
        assert np.array_equal(single.class_id, result.class_id)


def test_sessions_keep_no_memory_arena_or_patterns(scene: np.ndarray) -> None:
    """Batches vary with the cameras ready: an arena would keep the largest batch's activations
    for good and a memory pattern per batch size (355 MB for the example's three models)."""
    options = session_options(2)
    assert options.enable_cpu_mem_arena is False
    assert options.enable_mem_pattern is False
    detector = OnnxDetector(DEFAULT_MODEL, input_size=320)
    used = detector._session.get_session_options()
    assert (used.enable_cpu_mem_arena, used.enable_mem_pattern) == (False, False)
    batch = detector.detect_batch([scene, scene, scene])
    assert all(np.array_equal(b.xyxy, detector.detect(scene).xyxy) for b in batch)


def test_detectors_of_one_file_share_a_session(scene: np.ndarray, tmp_path: Path) -> None:
    """The 416 and 512 px passes of one file hold its weights once; the shared session gives
    each the boxes of a session of its own."""
    at_416 = OnnxDetector(DEFAULT_MODEL, input_size=416, confidence=0.01)
    at_512 = OnnxDetector(DEFAULT_MODEL, input_size=512, confidence=0.01)
    assert at_416._session is at_512._session
    copy = tmp_path / "hazards.onnx"
    copy.write_bytes(DEFAULT_MODEL.read_bytes())
    alone = OnnxDetector(copy, input_size=512, confidence=0.01)
    assert alone._session is not at_512._session
    shared, own = at_512.detect(scene), alone.detect(scene)
    assert len(shared) >= 3
    assert np.array_equal(shared.class_id, own.class_id)
    assert np.allclose(shared.xyxy, own.xyxy, atol=1e-3)
    assert not np.array_equal(at_416.detect(scene).xyxy, shared.xyxy)
    assert OnnxDetector(DEFAULT_MODEL, input_size=512, threads=1)._session is not at_512._session


def test_a_replaced_model_file_gets_a_new_session(tmp_path: Path) -> None:
    copy = tmp_path / "hazards.onnx"
    copy.write_bytes(DEFAULT_MODEL.read_bytes())
    first = OnnxDetector(copy, input_size=320)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert OnnxDetector(copy, input_size=320)._session is not first._session


def test_boxes_are_in_frame_pixels(scene: np.ndarray) -> None:
    detector = OnnxDetector(DEFAULT_MODEL, confidence=0.01)
    height, width = scene.shape[:2]
    found = detector.detect(scene)
    assert len(found)
    assert found.xyxy[:, [0, 2]].max() <= width and found.xyxy[:, [1, 3]].max() <= height
    assert (found.xyxy >= 0).all() and (found.xyxy[:, 2:] >= found.xyxy[:, :2]).all()
    # The same picture at twice the resolution: the strongest box doubles too.
    double = detector.detect(
        cv2.resize(scene, (width * 2, height * 2), interpolation=cv2.INTER_NEAREST)
    )
    strongest = found.xyxy[np.argmax(found.confidence)]
    distance = np.abs(double.xyxy - 2 * strongest).max(axis=1)
    assert distance.min() <= 6.0  # 1 px at the model input is 4 px here


@pytest.mark.parametrize(
    ("convert", "channels"),
    [
        (lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), "grey"),
        (lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[:, :, None], "grey (h, w, 1)"),
        (lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA), "BGRA"),
    ],
)
def test_grey_and_four_channel_frames_are_accepted(
    convert: object, channels: str, scene: np.ndarray
) -> None:
    assert callable(convert)
    detector = OnnxDetector(DEFAULT_MODEL, confidence=0.05)
    frame = convert(scene)
    found = detector.detect(frame)
    assert isinstance(found, Detections), channels
    if channels == "BGRA":
        assert np.allclose(found.xyxy, detector.detect(scene).xyxy)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "empty frame"),
        (np.zeros((10, 0), np.uint8), "empty frame"),
        (np.zeros((10, 10, 3), np.float32), "must be uint8"),
        (np.zeros((10, 10, 2), np.uint8), "HxWx3"),
    ],
)
def test_bad_frames_raise_a_clear_error(frame: np.ndarray, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        as_bgr(frame)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nowhere\.onnx not found"):
        OnnxDetector(tmp_path / "nowhere.onnx")


def test_truncated_model_file(tmp_path: Path) -> None:
    broken = tmp_path / "truncated.onnx"
    broken.write_bytes(DEFAULT_MODEL.read_bytes()[:50_000])
    with pytest.raises(ModelError, match=r"truncated\.onnx is not a loadable ONNX model"):
        OnnxDetector(broken)


def test_a_text_file_is_not_a_model(tmp_path: Path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        describe_model(text)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("classifier.onnx", "is a 'classify' model; sitewatch needs a 'detect' model"),
        ("classifier-no-task.onnx", "not a detect model"),
    ],
)
def test_non_detection_models_are_refused(name: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        OnnxDetector(TINY / name)


def test_fixed_size_model_refuses_another_input_size() -> None:
    with pytest.raises(ModelError, match="takes 64 px inputs but 320 was asked for"):
        OnnxDetector(TINY / "static64-detect.onnx", input_size=320)
    detector = OnnxDetector(TINY / "static64-detect.onnx", confidence=0.01)
    assert detector.input_size == 64 and detector.class_names == ("crate", "pallet")
    # A static model gets square inputs whatever the frame's shape.
    found = detector.detect_batch([np.full((90, 160, 3), 200, np.uint8)] * 2)
    assert len(found) == 2


def test_class_names_that_do_not_fit_the_output_are_refused() -> None:
    with pytest.raises(ModelError, match="2 classes need 6"):
        OnnxDetector(DEFAULT_MODEL, class_names=("a", "b"))


def test_letterbox_rect_pads_to_the_stride() -> None:
    plan = plan_letterbox(1280, 720, 320, rect=True)
    assert (plan.canvas_w, plan.canvas_h) == (320, 192)
    assert (plan.resized_w, plan.resized_h, plan.pad_x, plan.pad_y) == (320, 180, 0, 6)
    square = plan_letterbox(1280, 720, 320, rect=False)
    assert (square.canvas_w, square.canvas_h, square.pad_y) == (320, 320, 70)


def test_detections_validate_shapes_and_filter() -> None:
    with pytest.raises(ValueError, match=r"xyxy must have shape \(2, 4\)"):
        Detections(np.zeros((3, 4), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int32))
    found = Detections(
        np.array([[0, 0, 10, 20], [5, 5, 6, 6]], np.float32),
        np.array([0.9, 0.2], np.float32),
        np.array([1, 0], np.int32),
        ("fire", "smoke"),
    )
    strong = found[found.confidence > 0.5]
    assert len(strong) == 1 and strong.labels == ["smoke"]
    assert found.of_class("fire").confidence.tolist() == pytest.approx([0.2])
    assert found.area.tolist() == [200.0, 1.0]
    assert found.to_records()[0] == {
        "class": "smoke",
        "confidence": 0.9,
        "xyxy": [0.0, 0.0, 10.0, 20.0],
    }


def test_class_floors_keep_some_classes_below_the_general_confidence(scene: np.ndarray) -> None:
    low = OnnxDetector(DEFAULT_MODEL, confidence=0.01).detect(scene)
    label_of = np.array(low.labels, dtype=object)
    mid = float(np.median(low.confidence))
    wanted = str(label_of[np.argmax(low.confidence)])
    mixed = OnnxDetector(DEFAULT_MODEL, confidence=mid, class_confidence={wanted: 0.01})
    found = mixed.detect(scene)
    labels = np.array(found.labels, dtype=object)
    kept = found.confidence[labels == wanted]
    others = found.confidence[labels != wanted]
    assert len(kept) == int((label_of == wanted).sum())  # every box of that class, weak ones too
    assert (kept < mid).any()
    assert (others > mid).all()
    assert len(others) == int(((label_of != wanted) & (low.confidence > mid)).sum())
    ignored = OnnxDetector(DEFAULT_MODEL, confidence=mid, class_confidence={"pallet": 0.01})
    assert len(ignored.detect(scene)) == int((low.confidence > mid).sum())


def test_use_classes_drops_the_other_classes(scene: np.ndarray) -> None:
    every = OnnxDetector(DEFAULT_MODEL, confidence=0.01).detect(scene)
    assert len(every), "the golden scene should give detections"
    present = str(every.labels[int(np.argmax(every.confidence))])
    for used in ([present], [name for name in every.class_names if name != present]):
        only = OnnxDetector(DEFAULT_MODEL, confidence=0.01, use_classes=used).detect(scene)
        assert set(only.labels) <= set(used)
        assert len(only) == sum(1 for label in every.labels if label in used)
    with pytest.raises(ModelError, match=r"use_classes \['pallet'\] are not classes"):
        OnnxDetector(DEFAULT_MODEL, use_classes=["fire", "pallet"])
