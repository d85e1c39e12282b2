"""Evaluation maths on synthetic boxes, dataset loading and the evaluation loop with a fake
detector (no model file, no shared dataset needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from core.geometry import box_iou
from detect.detections import Detections
from lab.detection_metrics import (
    ClassMetrics,
    MatchTally,
    average_precision,
    match_detections,
    mean_ap50,
)
from lab.evaluation import class_mapping, evaluate
from lab.yolo_dataset import DatasetError, label_path, load_dataset
from tests.yolo_files import write_dataset, write_image

# What ultralytics' compute_ap (``yolo val``) gives a flawless class: its last trapezoid, from
# recall 0.99 to 1.0, falls to zero precision.
FLAWLESS_AP = 0.995

Rows = Sequence[Sequence[float]]


def boxes(rows: Rows) -> npt.NDArray[np.float32]:
    return np.array(rows, np.float32).reshape(-1, 4)


def ints(values: Sequence[int]) -> npt.NDArray[np.int32]:
    return np.array(values, np.int32)


def floats(values: Sequence[float]) -> npt.NDArray[np.float32]:
    return np.array(values, np.float32)


def score(
    images: Sequence[tuple[Rows, Sequence[float], Sequence[int], Rows, Sequence[int]]],
    operating_confidence: float = 0.25,
    names: Sequence[str] = ("fire", "smoke"),
) -> dict[str, ClassMetrics]:
    """Metrics per class name for images given as (boxes, confidences, classes, truth boxes,
    truth classes)."""
    tally = MatchTally(len(names))
    for xyxy, confidence, class_id, truth, truth_class in images:
        tally.add_image(
            boxes(xyxy), floats(confidence), ints(class_id), boxes(truth), ints(truth_class)
        )
    summary = tally.summarise(names, operating_confidence, range(len(names)))
    return {c.name: c for c in summary}


BOX_A = (10.0, 10.0, 50.0, 50.0)
BOX_B = (60.0, 20.0, 90.0, 70.0)
BOX_C = (100.0, 100.0, 140.0, 160.0)
BOX_D = (0.0, 80.0, 30.0, 120.0)


# --------------------------------------------------------------------------- metric maths


def test_perfect_predictions_score_like_yolo_val_and_full_precision_recall() -> None:
    images = [
        ([BOX_A, BOX_B], [0.9, 0.8], [0, 0], [BOX_A, BOX_B], [0, 0]),
        ([BOX_C], [0.7], [0], [BOX_C], [0]),
    ]
    fire = score(images)["fire"]
    assert fire.ap50 == pytest.approx(FLAWLESS_AP)
    assert (fire.precision, fire.recall) == (1.0, 1.0)
    assert (fire.images, fire.instances, fire.detections) == (2, 3, 3)


def test_half_the_objects_missed() -> None:
    images = [([BOX_A, BOX_B], [0.9, 0.8], [0, 0], [BOX_A, BOX_B, BOX_C, BOX_D], [0, 0, 0, 0])]
    fire = score(images)["fire"]
    assert fire.recall == 0.5
    assert fire.precision == 1.0
    assert fire.ap50 == pytest.approx(0.5, abs=0.01)


def test_false_positives_ranked_above_true_positives_lower_ap() -> None:
    truth = [BOX_A, BOX_B]
    misses = [BOX_C, BOX_D]  # no ground truth there
    below = score([([BOX_A, BOX_B, *misses], [0.9, 0.8, 0.4, 0.3], [0] * 4, truth, [0, 0])])
    above = score([([BOX_A, BOX_B, *misses], [0.4, 0.3, 0.9, 0.8], [0] * 4, truth, [0, 0])])
    assert below["fire"].ap50 == pytest.approx(FLAWLESS_AP)
    assert above["fire"].ap50 is not None and above["fire"].ap50 < 0.6
    # the same four detections at the operating point: only the ranking differs
    assert below["fire"].precision == above["fire"].precision == 0.5


def test_a_detection_of_the_wrong_class_does_not_match() -> None:
    metrics = score([([BOX_A], [0.9], [1], [BOX_A], [0])])
    assert metrics["fire"].recall == 0.0 and metrics["fire"].ap50 == 0.0
    assert metrics["smoke"].detections == 1 and metrics["smoke"].precision == 0.0
    assert metrics["smoke"].ap50 is None  # no smoke in the set: no AP, not in the mean
    assert mean_ap50(list(metrics.values())) == 0.0


def test_one_object_is_matched_once_a_duplicate_is_a_false_positive() -> None:
    near_a = (11.0, 11.0, 51.0, 51.0)
    hit = match_detections(
        boxes([BOX_A, near_a]), floats([0.6, 0.9]), ints([0, 0]), boxes([BOX_A]), ints([0])
    )
    assert hit.tolist() == [False, True]  # the more confident one takes it, though it fits less
    fire = score([([BOX_A, near_a], [0.6, 0.9], [0, 0], [BOX_A], [0])])["fire"]
    assert (fire.precision, fire.recall) == (0.5, 1.0)


def test_a_detection_takes_the_object_it_overlaps_most_leaving_the_other_free() -> None:
    left, right = (0.0, 0.0, 40.0, 40.0), (30.0, 0.0, 70.0, 40.0)
    between = (20.0, 0.0, 60.0, 40.0)  # IoU 0.6 with right, 0.33 with left
    hit = match_detections(
        boxes([between, left]), floats([0.9, 0.8]), ints([0, 0]), boxes([left, right]), ints([0, 0])
    )
    assert hit.tolist() == [True, True]


@pytest.mark.parametrize(
    ("shift", "matches"),
    [(0, True), (33, True), (34, False), (60, False)],  # IoU (100-s)/(100+s): 0.5 at 33.3
)
def test_iou_threshold_is_half(shift: int, matches: bool) -> None:
    truth = boxes([(0, 0, 100, 100)])
    moved = boxes([(shift, 0, 100 + shift, 100)])
    assert box_iou(moved, truth)[0, 0] == pytest.approx((100 - shift) / (100 + shift))
    hit = match_detections(moved, floats([0.9]), ints([0]), truth, ints([0]))
    assert hit.tolist() == [matches]


def test_no_predictions_scores_zero() -> None:
    fire = score([([], [], [], [BOX_A], [0])])["fire"]
    assert (fire.ap50, fire.precision, fire.recall, fire.detections) == (0.0, 0.0, 0.0, 0)


def test_predictions_on_an_empty_image_are_false_positives() -> None:
    fire = score([([BOX_A], [0.9], [0], [], []), ([BOX_B], [0.8], [0], [BOX_B], [0])])["fire"]
    assert fire.precision == 0.5 and fire.recall == 1.0
    assert fire.ap50 is not None and fire.ap50 < 0.6  # the false positive ranks first


def test_precision_and_recall_count_only_detections_above_the_operating_threshold() -> None:
    images = [([BOX_A, BOX_C, BOX_B], [0.9, 0.3, 0.2], [0, 0, 0], [BOX_A, BOX_B], [0, 0])]
    at_quarter = score(images, operating_confidence=0.25)["fire"]
    assert (at_quarter.detections, at_quarter.precision, at_quarter.recall) == (2, 0.5, 0.5)
    at_tenth = score(images, operating_confidence=0.1)["fire"]
    assert at_tenth.precision == pytest.approx(2 / 3) and at_tenth.recall == 1.0
    assert at_quarter.ap50 == at_tenth.ap50  # AP uses every detection either way


# Reference values printed by ultralytics 8.4 ``compute_ap`` for the same curves.
@pytest.mark.parametrize(
    ("ranking", "instances", "expected"),
    [
        ("TTTT", 4, 0.995),
        ("TT", 4, 0.495),
        ("FFTT", 2, 0.4975),
        ("TFTFT", 5, 0.4483333333333333),
        ("FTTFFTTF", 6, 0.41190476190476194),
        ("TFFFFFFFFT", 3, 0.401),
    ],
)
def test_average_precision_equals_yolo_val(ranking: str, instances: int, expected: float) -> None:
    hits = np.array([c == "T" for c in ranking])
    assert average_precision(hits, instances) == pytest.approx(expected, abs=1e-9)


# --------------------------------------------------------------------------- class names


def test_classes_are_matched_by_name_whatever_their_ids() -> None:
    mapping = class_mapping(("Head", "car", "fire"), ("fire", "smoke", "helmet", "head"))
    assert mapping.tolist() == [3, -1, 0]


class FakeDetector:
    """Returns fixed detections per frame size, in its own class order."""

    def __init__(self, names: tuple[str, ...], by_size: dict[tuple[int, int], Detections]) -> None:
        self._names = names
        self._by_size = by_size
        self.confidence = 0.001
        self.input_size = 320

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._names

    def detect(self, frame: npt.NDArray[Any]) -> Detections:
        height, width = frame.shape[:2]
        return self._by_size.get((width, height), Detections.empty(self._names))


def test_evaluation_matches_model_and_dataset_classes_by_name(tmp_path: Path) -> None:
    # dataset: 0 fire, 1 smoke, 2 helmet; model: car, helmet, fire (no smoke)
    labels = {"a": "0 0.5 0.5 0.5 0.5\n2 0.25 0.25 0.1 0.1\n", "b": "1 0.5 0.5 0.2 0.2\n"}
    sizes = {"a": (100, 80), "b": (60, 40)}
    write_dataset(tmp_path, labels, names=("fire", "smoke", "helmet"), sizes=sizes)
    model_names = ("car", "helmet", "fire")
    fire_box, helmet_box = (25.0, 20.0, 75.0, 60.0), (20.0, 16.0, 30.0, 24.0)
    car_box = (0.0, 0.0, 10.0, 10.0)  # the dataset has no cars: ignored, not a false positive
    frame_a = Detections(boxes([fire_box, helmet_box, car_box]), floats([0.9, 0.8, 0.95]),
                         ints([2, 1, 0]), model_names)  # fmt: skip
    detector = FakeDetector(model_names, {(100, 80): frame_a})

    result = evaluate(detector, load_dataset(tmp_path), operating_confidence=0.25)

    by_name = {c.name: c for c in result.classes}
    assert sorted(by_name) == ["fire", "helmet"]
    assert by_name["fire"].ap50 == pytest.approx(FLAWLESS_AP)
    assert by_name["helmet"].ap50 == pytest.approx(FLAWLESS_AP)
    assert by_name["fire"].precision == by_name["helmet"].precision == 1.0
    assert result.missing_classes == ("smoke",)
    assert result.images == 2 and result.instances == 2  # the smoke object is not counted
    assert result.map50 == pytest.approx(FLAWLESS_AP)
    document = result.to_dict()
    assert document["classes"][0]["name"] == "fire" and document["missing_classes"] == ["smoke"]


def test_evaluation_refuses_a_model_without_any_dataset_class(tmp_path: Path) -> None:
    write_dataset(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    with pytest.raises(DatasetError, match="none of the dataset classes"):
        evaluate(FakeDetector(("car", "tree"), {}), load_dataset(tmp_path))


def test_evaluation_needs_detections_below_the_operating_point(tmp_path: Path) -> None:
    write_dataset(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    detector = FakeDetector(("fire",), {})
    detector.confidence = 0.5
    with pytest.raises(ValueError, match=r"cannot be evaluated at 0\.25"):
        evaluate(detector, load_dataset(tmp_path), operating_confidence=0.25)


def test_unreadable_images_are_skipped_and_reported(tmp_path: Path) -> None:
    write_dataset(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    (tmp_path / "images" / "val" / "broken.jpg").write_bytes(b"not a jpeg")
    result = evaluate(FakeDetector(("fire",), {}), load_dataset(tmp_path))
    assert result.images == 1
    assert [Path(p).name for p in result.unreadable_images] == ["broken.jpg"]


# --------------------------------------------------------------------------- dataset loading


def test_folder_with_a_split_and_data_yaml(tmp_path: Path) -> None:
    write_dataset(tmp_path, {"a": "1 0.5 0.25 0.5 0.5\n", "b": ""}, sizes={"a": (200, 100)})
    write_image(tmp_path / "images" / "train" / "t.png")  # another split: not loaded
    dataset = load_dataset(tmp_path)
    assert dataset.class_names == ("fire", "smoke")
    assert [item.image.name for item in dataset.images] == ["a.png", "b.png"]
    first = dataset.images[0]
    assert first.class_id.tolist() == [1]
    assert first.xyxy(200, 100).tolist() == [[50.0, 0.0, 150.0, 50.0]]
    assert dataset.instances == 1


def test_folder_without_split_names_from_classes_txt(tmp_path: Path) -> None:
    write_dataset(tmp_path, {"a": "2 0.5 0.5 0.2 0.2\n"}, names=None, split=None)
    (tmp_path / "classes.txt").write_text("fire\nsmoke\nhead\n\n")
    dataset = load_dataset(tmp_path)
    assert dataset.class_names == ("fire", "smoke", "head")
    assert dataset.images[0].class_id.tolist() == [2]


def test_yaml_with_path_key_and_names_list(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", {"a": "0 0.5 0.5 0.2 0.2\n"}, names=None)
    config = tmp_path / "configs" / "set.yaml"
    config.parent.mkdir()
    config.write_text(
        yaml.safe_dump({"path": "../data", "val": "images/val", "names": ["fire", "smoke"]})
    )
    dataset = load_dataset(config)
    assert dataset.class_names == ("fire", "smoke")
    assert dataset.images[0].image == tmp_path / "configs" / "../data/images/val/a.png"


def test_yaml_relative_to_itself_and_a_roboflow_style_root(tmp_path: Path) -> None:
    write_dataset(tmp_path / "valid", {"a": "0 0.5 0.5 0.2 0.2\n"}, names=None, split=None)
    data = {"val": "valid/images", "names": {0: "fire"}}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    assert load_dataset(tmp_path / "data.yaml").images[0].image.name == "a.png"
    # a folder without images/ but with a data.yaml is read through the YAML
    assert load_dataset(tmp_path).class_names == ("fire",)


def test_polygon_labels_become_boxes_and_missing_label_files_mean_no_objects(
    tmp_path: Path,
) -> None:
    write_dataset(tmp_path, {"a": "0 0.1 0.2 0.5 0.2 0.3 0.6\n"})
    write_image(tmp_path / "images" / "val" / "b.png")  # no labels/val/b.txt
    a, b = load_dataset(tmp_path).images
    assert a.cxcywh[0].tolist() == pytest.approx([0.3, 0.4, 0.4, 0.4])
    assert len(b.class_id) == 0 and b.cxcywh.shape == (0, 4)


def test_label_path_replaces_the_last_images_folder() -> None:
    image = Path("/d/images/set/images/val/x.y.jpg")
    assert label_path(image) == Path("/d/images/set/labels/val/x.y.txt")
    assert label_path(Path("/d/pics/x.jpg")) == Path("/d/pics/x.txt")


def _bad_label(text: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        return write_dataset(root, {"good": "0 0.5 0.5 0.1 0.1\n", "bad": text})

    return build


def _yaml(content: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        write_dataset(root, {"a": "0 0.5 0.5 0.1 0.1\n"}, names=None)
        (root / "set.yaml").write_text(content)
        return root / "set.yaml"

    return build


def _images_only(root: Path) -> Path:
    write_image(root / "images" / "a.png")
    return root


def _pictures_folder(root: Path) -> Path:
    write_image(root / "pics" / "a.png")
    return root


def _train_split_only(root: Path) -> Path:
    return write_dataset(root, {"a": ""}, split="train")


def _empty_split(root: Path) -> Path:
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels").mkdir()
    return root


def _no_names(root: Path) -> Path:
    return write_dataset(root, {"a": ""}, names=None)


def _labels_moved(root: Path) -> Path:
    write_dataset(root, {"a": ""})
    (root / "labels").rename(root / "old-labels")
    return root


def _text_file(root: Path) -> Path:
    (root / "a.txt").write_text("x")
    return root / "a.txt"


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (lambda root: root / "absent", ["absent does not exist"]),
        (_pictures_folder, ["has no images/ folder"]),
        (_images_only, ["has no labels/ folder"]),
        (_labels_moved, ["has no labels/ folder"]),
        (_train_split_only, ["no images and no 'val' split", "found: train"]),
        (_empty_split, ["holds no images"]),
        (_no_names, ["does not name its classes", "classes.txt"]),
        (_text_file, ["neither a dataset folder nor a data YAML"]),
        (_yaml("val: images/val\n"), ["set.yaml has no class names"]),
        (_yaml("names: [fire]\n"), ["set.yaml has no 'val' split"]),
        (_yaml("val: images/test\nnames: [fire]\n"), ["images/test does not exist"]),
        (_yaml("val: [images/val\n"), ["set.yaml: invalid YAML"]),
        (_yaml("- just a list\n"), ["expected a mapping"]),
        (_yaml("val: images/val\nnames: {0: fire, 2: head}\n"), ["must be 0..1"]),
        (_yaml("val: images/val\nnames: [fire, fire]\n"), ["repeated: fire"]),
        (_bad_label("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n"), ["bad.txt:2", "'class cx cy w h'"]),
        (_bad_label("\n0 0.5 0.5 0.1 wide\n"), ["bad.txt:2", "not a number"]),
        (_bad_label("7 0.5 0.5 0.1 0.1\n"), ["bad.txt:1", "class 7 is not one of the 2"]),
        (_bad_label("0.5 0.5 0.5 0.1 0.1\n"), ["bad.txt:1", "class 0.5"]),
        (_bad_label("0 0.5 0.5 1.5 0.1\n"), ["bad.txt:1", "normalised to 0..1"]),
        (_bad_label("0 0.5 nan 0.1 0.1\n"), ["bad.txt:1", "normalised to 0..1"]),
    ],
)
def test_unusable_datasets_are_reported(
    tmp_path: Path, build: Callable[[Path], Path], fragments: list[str]
) -> None:
    target = build(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_dataset(target)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_images_without_any_label_file_are_reported(tmp_path: Path) -> None:
    write_dataset(tmp_path, {"a": ""})
    (tmp_path / "labels" / "val" / "a.txt").unlink()
    with pytest.raises(DatasetError, match="none of the 1 images has a label file"):
        load_dataset(tmp_path)
