"""The second look: a model that runs only on frames where an earlier model gave its classes a
hint of a score (``Detections.peaks``), with the example configuration's real models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from detect.detections import Detections
from detect.engine import OnnxDetector
from detect.inference import DetectorStage, SecondLook
from detect.model_probe import describe_model
from detect.yolox import YoloxDetector
from sitewatch.config.loader import load_config
from sitewatch.runner import load_detectors

ROOT = Path(__file__).resolve().parents[1]
HAZARDS = ROOT / "models" / "hazards.onnx"
NAMES = ("fire", "smoke", "helmet", "head")


class Peaked:
    """Gives each camera's frame the peaks its first pixel value picks from ``peaks``."""

    input_size = 416
    class_names = NAMES

    def __init__(self, peaks: dict[int, list[float] | None]) -> None:
        self.providers = ["CPUExecutionProvider"]
        self._peaks = peaks
        self.seen: list[int] = []

    def floors(self) -> npt.NDArray[np.float32]:
        return np.zeros(len(NAMES), np.float32)

    def detect_batch(self, frames: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        found = []
        for frame in frames:
            key = int(frame[0, 0, 0])
            self.seen.append(key)
            peaks = self._peaks.get(key)
            empty = Detections.empty(NAMES)
            found.append(
                Detections(
                    empty.xyxy,
                    empty.confidence,
                    empty.class_id,
                    NAMES,
                    peaks=None if peaks is None else np.array(peaks, np.float32),
                )
            )
        return found


def _frame(key: int) -> npt.NDArray[np.uint8]:
    return np.full((32, 32, 3), key, np.uint8)


def test_the_second_look_runs_only_where_the_first_model_gave_a_hint() -> None:
    first = Peaked(
        {
            1: [0.0, 0.0, 0.9, 0.0],  # a strong helmet: not a class the second look wants
            2: [0.004, 0.0, 0.0, 0.0],  # a hint of fire
            3: [0.0, 0.0, 0.0, 0.01],  # a head below its own hint
            4: [0.0, 0.0, 0.0, 0.03],  # a head above it
            5: None,  # no peaks reported: look
        }
    )
    second = Peaked({})
    look = SecondLook("first", (0, 1, 3), (0.003, 0.003, 0.02))
    stage = DetectorStage({"first": first, "second": second}, {"second": look})
    found = stage.run({f"cam{k}": _frame(k) for k in range(1, 6)})
    assert sorted(first.seen) == [1, 2, 3, 4, 5]
    assert sorted(second.seen) == [2, 4, 5]
    assert len(found["cam1"]["second"]) == 0  # skipped cameras get no detections of it
    assert found["cam1"]["second"].class_names == NAMES
    health = stage.health()
    assert health["detector_second_frames"] == 3
    assert health["detector_second_skipped"] == 2
    assert "detector_first_skipped" not in health


def test_a_second_look_must_ask_a_model_before_it() -> None:
    first, second = Peaked({}), Peaked({})
    look = SecondLook("second", (0,), (0.1,))
    with pytest.raises(ValueError, match="not a model before it"):
        DetectorStage({"first": first, "second": second}, {"first": look})
    with pytest.raises(ValueError, match="one hint per class"):
        SecondLook("first", (0, 1), (0.1,))


def test_peaks_are_each_class_s_best_score_anywhere_in_the_frame() -> None:
    scene = cv2.imread(str(ROOT / "tests" / "fixtures" / "golden" / "scene.jpg"))
    assert scene is not None
    every = OnnxDetector(HAZARDS, confidence=1e-6, multi_label=True).detect(scene)
    strict = OnnxDetector(HAZARDS, confidence=0.5).detect(scene)
    assert every.peaks is not None and strict.peaks is not None
    assert np.array_equal(every.peaks, strict.peaks)  # the floors do not change them
    for class_id in range(len(NAMES)):
        best = every.confidence[every.class_id == class_id].max()
        assert every.peaks[class_id] == pytest.approx(best, abs=1e-6)
    people = cv2.imread(str(ROOT / "tests" / "fixtures" / "people" / "grace_hopper.jpg"))
    assert people is not None
    finder = YoloxDetector(ROOT / "models" / "persons.onnx", use_classes=["person"])
    persons = finder.detect(people)
    assert persons.peaks is not None and len(persons.peaks) == len(finder.class_names)
    assert persons.peaks[0] >= persons.confidence.max() > 0.5


def test_the_example_configuration_looks_again_only_where_it_can_pay(tmp_path: Path) -> None:
    """With the real models of ``config/site-example.yaml``: a frame the 416 px pass gives no
    hint of flames or heads (the warehouse scene) skips the 512 px pass, one it does (a black
    frame reads as smoke) gets it, with exactly the detections the 512 px model gives alone."""
    config = load_config(ROOT / "config" / "site-example.yaml", read_model=describe_model)
    stage = load_detectors(config)
    assert stage is not None
    look = stage.second_looks["hazards-512"]
    assert look.after == "hazards"
    scene = cv2.imread(str(ROOT / "tests" / "fixtures" / "golden" / "scene.jpg"))
    assert scene is not None
    black = np.zeros((480, 640, 3), np.uint8)
    found = stage.run({"scene": scene, "black": black})
    first = {name: found[name]["hazards"] for name in ("scene", "black")}
    assert not look.wanted(first["scene"]) and look.wanted(first["black"])
    assert len(found["scene"]["hazards-512"]) == 0
    alone = stage.detectors["hazards-512"].detect_batch([black])[0]
    assert len(alone) > 0
    assert np.array_equal(found["black"]["hazards-512"].xyxy, alone.xyxy)
    assert np.array_equal(found["black"]["hazards-512"].confidence, alone.confidence)
    assert stage.health()["detector_hazards_512_skipped"] == 1
