"""lab.quantize: an INT8 copy that sitewatch loads like the original and that finds what it
finds (needs the train extra's ``onnx``; run by ``make test-train``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detect.engine import OnnxDetector

pytestmark = pytest.mark.train
ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "tests" / "fixtures" / "golden" / "scene.jpg"


def test_the_int8_copy_loads_like_the_original_and_scores_alike(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="needs the 'train' extra")
    from lab.quantize import quantize

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    scene = cv2.imread(str(SCENE))
    assert scene is not None
    for index in range(4):  # the scene, shifted: enough to calibrate a smoke test
        cv2.imwrite(str(pictures / f"{index}.jpg"), np.roll(scene, 40 * index, axis=1))
    source = ROOT / "models" / "hazards.onnx"
    out = tmp_path / "hazards-int8.onnx"
    kept = quantize(source, out, sorted(pictures.iterdir()), 416)
    assert kept and all(name.startswith("/model.22/") for name in kept)
    assert out.stat().st_size < source.stat().st_size / 2
    original, copy = OnnxDetector(source), OnnxDetector(out)
    assert copy.class_names == original.class_names
    assert copy.input_size == original.input_size
    a, b = original.detect(scene), copy.detect(scene)
    assert a.peaks is not None and b.peaks is not None
    assert np.abs(a.peaks - b.peaks).max() < 0.1
