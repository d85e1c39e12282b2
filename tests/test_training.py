"""The training recipe end to end on a tiny generated dataset (``make test-train``; needs torch).

Skipped in ``make test`` (the runtime has no torch); ``make test-train`` installs the ``train``
extra and runs it with ``-m train``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from detect.engine import OnnxDetector

pytestmark = pytest.mark.train

CLASSES = ("fire", "smoke", "helmet", "head")
COLOURS = ((0, 80, 255), (160, 160, 160), (0, 220, 255), (120, 150, 200))  # BGR


def _write_dataset(root: Path, images: int = 8, size: int = 128) -> Path:
    """Coloured blobs on noise, one class each, in YOLO format with a data YAML."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for index in range(images):
            image = rng.integers(0, 60, (size, size, 3), np.uint8)
            rows = []
            for class_id, colour in enumerate(COLOURS):
                if (index + class_id) % 2:
                    continue
                w, h = rng.integers(16, 40, 2)
                x, y = rng.integers(0, size - 40, 2)
                cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), colour, -1)
                cx, cy = (x + w / 2) / size, (y + h / 2) / size
                rows.append(f"{class_id} {cx:.5f} {cy:.5f} {w / size:.5f} {h / size:.5f}")
            cv2.imwrite(str(root / "images" / split / f"{index}.jpg"), image)
            (root / "labels" / split / f"{index}.txt").write_text("\n".join(rows) + "\n")
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASSES))
    data = root / "data.yaml"
    data.write_text(f"train: images/train\nval: images/val\nnames:\n{names}\n")
    return data


@pytest.fixture(scope="module")
def ultralytics_root() -> Path:
    ultralytics = pytest.importorskip("ultralytics", reason="needs the 'train' extra")
    return Path(ultralytics.__file__).parent


def test_train_export_and_run_with_our_engine(
    tmp_path: Path, ultralytics_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitewatch.cli.app import app

    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics-config"))
    data = _write_dataset(tmp_path / "data")
    architecture = tmp_path / "yolov8n.yaml"  # the file name picks the nano scale
    shutil.copy(ultralytics_root / "cfg" / "models" / "v8" / "yolov8.yaml", architecture)
    model = tmp_path / "tiny.onnx"
    runner = CliRunner()
    arguments = [
        "train",
        "--data",
        str(data),
        "--weights",
        str(architecture),
        "--out",
        str(tmp_path / "runs"),
        "--imgsz",
        "64",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--workers",
        "1",
        "--set",
        "close_mosaic=0",
        "--export",
        str(model),
    ]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "hazards" / "weights" / "best.pt").is_file()
    used = yaml.safe_load((tmp_path / "runs" / "hazards" / "args.yaml").read_text())
    assert used["close_mosaic"] == 0  # the --set override reached ultralytics (default 10)
    assert used["workers"] == 1  # --workers too (the recipe's default is 2)

    detector = OnnxDetector(model, input_size=64, confidence=0.001)
    assert detector.class_names == CLASSES
    frame = cv2.imread(str(tmp_path / "data" / "images" / "val" / "0.jpg"))
    assert frame is not None
    detections = detector.detect(frame)
    assert detections.xyxy.shape[1] == 4
    json.dumps(detections.to_records())

    # The same weights exported with NMS in the graph (YOLOv10/YOLO26-style end-to-end output)
    # decode to the same detections.
    from ultralytics import YOLO

    best = tmp_path / "runs" / "hazards" / "weights" / "best.pt"
    end_to_end = Path(
        YOLO(str(best)).export(format="onnx", imgsz=64, nms=True, dynamic=True, conf=0.001)
    )
    raw = OnnxDetector(model, input_size=64, confidence=0.001).detect(frame)
    e2e_detector = OnnxDetector(end_to_end, input_size=64, confidence=0.001)
    assert e2e_detector.info.end_to_end
    decoded = e2e_detector.detect(frame)
    assert len(raw) > 0
    assert len(decoded) == len(raw)
    assert np.array_equal(decoded.class_id, raw.class_id)
    assert np.abs(decoded.xyxy - raw.xyxy).max() <= 1.0


def test_train_refuses_a_bare_model_name(tmp_path: Path, ultralytics_root: Path) -> None:
    from sitewatch.cli.app import app

    data = _write_dataset(tmp_path / "data", images=2)
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--weights", "yolov8n.pt"])
    assert result.exit_code == 2
    assert "yolov8n.pt not found" in result.output


def test_a_checkpoint_rebuilt_from_the_shipped_onnx_predicts_what_it_predicts(
    tmp_path: Path,
) -> None:
    """``lab.onnx_to_checkpoint``: the trainable checkpoint made from our ONNX file agrees with
    it (the script checks and exits non-zero otherwise), and it loads as a YOLO model with the
    shipped class names."""
    pytest.importorskip("ultralytics", reason="needs the 'train' extra")
    from ultralytics import YOLO

    from lab.onnx_to_checkpoint import main as rebuild

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        cv2.imwrite(str(images / f"{index}.jpg"), rng.integers(0, 255, (96, 128, 3), np.uint8))
    out = tmp_path / "rebuilt.pt"
    onnx_file = Path(__file__).resolve().parents[1] / "models" / "hazards.onnx"
    rebuild([str(onnx_file), "--out", str(out), "--images", str(images), "--count", "4"])
    assert list(YOLO(str(out)).names.values()) == ["fire", "smoke", "helmet", "head"]
