"""`sitewatch eval` and `sitewatch detect` end to end with the ONNX model in models/.

The evaluation path is proven on a dataset labelled by the engine itself: real validation images
(from ../shared, never copied into the repository) whose labels are the model's own confident
detections must score as flawless. Nothing here depends on the model's class names or count.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from alerts.evidence import BOX_COLOUR
from detect.engine import OnnxDetector
from detect.image_files import read_image
from lab.evaluation import evaluate_model
from sitewatch.cli.app import app
from tests.yolo_files import MODEL, SHARED_DATASET, write_dataset, write_image

FLAWLESS_AP = 0.995  # what `yolo val` prints for a class without a single mistake
LABEL_CONFIDENCE = 0.5  # the engine's detections above this become the ground truth
WANTED_IMAGES = 4  # with detections, plus two without
SCAN_LIMIT = 200  # images looked at, at most, to find them
EXTRA_CLASS = "not-a-model-class"

needs_model = pytest.mark.skipif(not MODEL.is_file(), reason=f"no model at {MODEL}")
needs_dataset = pytest.mark.skipif(
    not (SHARED_DATASET / "images" / "val").is_dir(),
    reason=f"the shared hazards dataset is not at {SHARED_DATASET} (a clone without ../shared)",
)


def _cli(*args: str) -> list[str]:
    return [*args, "--threads", "1"]


@pytest.fixture(scope="module")
def self_labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data YAML over a few real images labelled with the engine's own detections; the class
    names are the model's in reverse order, plus one the model does not know."""
    detector = OnnxDetector(MODEL, confidence=LABEL_CONFIDENCE, threads=1)
    candidates = sorted(
        (SHARED_DATASET / "images" / "val").glob("*.jpg"),
        key=lambda p: hashlib.sha256(p.name.encode()).hexdigest(),
    )
    names = [*reversed(detector.class_names), EXTRA_CLASS]
    to_dataset = {i: names.index(name) for i, name in enumerate(detector.class_names)}
    root = tmp_path_factory.mktemp("self-labelled")
    with_objects, without = 0, 0
    for source in candidates[:SCAN_LIMIT]:
        image = read_image(source)
        assert image is not None, source
        found = detector.detect(image)
        if (len(found) and with_objects >= WANTED_IMAGES) or (not len(found) and without >= 2):
            continue
        height, width = image.shape[:2]
        rows = [
            f"{to_dataset[int(c)]} {(x1 + x2) / 2 / width:.8f} {(y1 + y2) / 2 / height:.8f} "
            f"{(x2 - x1) / width:.8f} {(y2 - y1) / height:.8f}"
            for (x1, y1, x2, y2), c in zip(found.xyxy.tolist(), found.class_id, strict=True)
        ]
        write_image_copy(source, root / "images" / "val" / f"{source.stem}.png")
        label = root / "labels" / "val" / f"{source.stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{row}\n" for row in rows))
        with_objects += bool(len(found))
        without += not len(found)
        if with_objects >= WANTED_IMAGES and without >= 2:
            break
    if not with_objects:
        pytest.skip(f"the model finds nothing above {LABEL_CONFIDENCE} in {SCAN_LIMIT} images")
    data = {"path": str(root), "val": "images/val", "names": dict(enumerate(names))}
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root / "data.yaml"


def write_image_copy(source: Path, target: Path) -> None:
    """A lossless copy (PNG), so pixels drawn later can be told from the picture."""
    image = read_image(source)
    assert image is not None
    target.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(target), image)


# --------------------------------------------------------------------------- eval


@needs_model
@needs_dataset
def test_own_detections_score_as_flawless(self_labelled: Path) -> None:
    result = evaluate_model(MODEL, self_labelled, operating_confidence=LABEL_CONFIDENCE, threads=1)

    labelled = [c for c in result.classes if c.instances]
    assert labelled, "the fixture labelled no object"
    for metrics in labelled:
        assert metrics.ap50 == pytest.approx(FLAWLESS_AP), metrics
        assert (metrics.precision, metrics.recall) == (1.0, 1.0), metrics
    assert result.missing_classes == (EXTRA_CLASS,)
    assert result.images == len(list((self_labelled.parent / "images" / "val").iterdir()))
    assert result.map50 == pytest.approx(FLAWLESS_AP)


@needs_model
@needs_dataset
def test_eval_json(self_labelled: Path) -> None:
    result = CliRunner().invoke(
        app, _cli("eval", "--model", str(MODEL), "--data", str(self_labelled), "--json")
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # nothing but JSON on stdout
    assert report["map50"] == pytest.approx(FLAWLESS_AP)
    assert report["confidence"] == 0.25 and report["missing_classes"] == [EXTRA_CLASS]
    model_names = OnnxDetector(MODEL, threads=1).class_names
    assert sorted(c["name"] for c in report["classes"]) == sorted(model_names)
    for entry in report["classes"]:
        assert set(entry) == {
            "name", "images", "instances", "detections", "precision", "recall", "ap50"
        }  # fmt: skip
        assert entry["ap50"] is None if entry["instances"] == 0 else entry["ap50"] > 0.99
    assert report["instances"] == sum(c["instances"] for c in report["classes"]) > 0
    assert EXTRA_CLASS in result.stderr  # warned about


@needs_model
@needs_dataset
def test_eval_table(self_labelled: Path) -> None:
    result = CliRunner().invoke(
        app, _cli("eval", "-m", str(MODEL), "-d", str(self_labelled), "--conf", "0.5")
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "P@0.5" in lines[1] and "AP50" in lines[1]
    summary = next(line for line in lines if line.startswith("all"))
    assert summary.split()[-3:] == ["1.000", "1.000", "0.995"]


@needs_model
def test_eval_rejects_bad_data_and_bad_models(tmp_path: Path) -> None:
    missing = CliRunner().invoke(
        app, _cli("eval", "--model", str(MODEL), "--data", str(tmp_path / "nowhere"))
    )
    assert missing.exit_code == 2
    assert "nowhere does not exist" in missing.stderr

    dataset = write_dataset(tmp_path / "set", {"a": "0 0.5 0.5 0.2 0.2\n"})
    fake_model = tmp_path / "model.onnx"
    fake_model.write_text("not a model")
    broken = CliRunner().invoke(
        app, _cli("eval", "--model", str(fake_model), "--data", str(dataset))
    )
    assert broken.exit_code == 2
    assert "not a loadable ONNX model" in broken.stderr

    unrelated = write_dataset(tmp_path / "other", {"a": "0 0.5 0.5 0.2 0.2\n"}, names=["x-1"])
    strangers = CliRunner().invoke(
        app, _cli("eval", "--model", str(MODEL), "--data", str(unrelated))
    )
    assert strangers.exit_code == 2
    assert "none of the dataset classes (x-1)" in strangers.stderr


# --------------------------------------------------------------------------- detect


@needs_model
def test_detect_writes_annotated_copies_and_skips_broken_files(tmp_path: Path) -> None:
    pictures = tmp_path / "pictures"
    sources = [pictures / "one.png", pictures / "two.png", pictures / "nested" / "one.png"]
    real = sorted((SHARED_DATASET / "images" / "val").glob("hardhat*.jpg"))[:3]
    for index, target in enumerate(sources):  # real photographs when ../shared is there
        if index < len(real):
            write_image_copy(real[index], target)
        else:
            write_image(target, 160, 120, seed=index)
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (pictures / "notes.txt").write_text("not an image, not looked at")
    out_dir = tmp_path / "out"

    result = CliRunner().invoke(app, _cli("detect", str(pictures), "--out", str(out_dir)))

    assert result.exit_code == 1, result.output
    assert "broken.jpg" in result.stderr
    assert "3 image(s)" in result.stdout and "1 file(s) skipped" in result.stdout
    records = json.loads((out_dir / "detections.json").read_text())
    assert sorted(r["annotated"] for r in records) == ["one-1.png", "one.png", "two.png"]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "detections.json", "one-1.png", "one.png", "two.png"
    ]  # fmt: skip
    for record in records:
        source, annotated = (
            read_image(Path(record["image"])),
            read_image(out_dir / record["annotated"]),
        )
        assert source is not None and annotated is not None
        assert (record["width"], record["height"]) == (source.shape[1], source.shape[0])
        assert annotated.shape == source.shape
        for detection in record["detections"]:
            assert set(detection) == {"class", "confidence", "xyxy"}
            assert detection["confidence"] > 0.25
            x1, y1, x2, _ = (round(v) for v in detection["xyxy"])
            top_edge = annotated[max(y1 - 1, 0) : y1 + 2, x1 : x2 + 1]
            assert (top_edge == np.array(BOX_COLOUR, np.uint8)).all(axis=-1).any()  # drawn
        if not record["detections"]:
            assert np.array_equal(annotated, source)  # nothing drawn on a lossless copy


@needs_model
def test_detect_rejects_missing_paths(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, _cli("detect", str(tmp_path / "nope.jpg"), "-o", str(tmp_path))
    )
    assert result.exit_code == 2
    assert "nope.jpg does not exist" in result.stderr
