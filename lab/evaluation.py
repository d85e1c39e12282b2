"""Measure a detector on a labelled YOLO dataset with the engine that runs in production.

Detections are gathered at a very low confidence (0.001, as ``yolo val`` does) for AP50; precision
and recall are reported at the operating threshold the product uses. Dataset and model classes are
matched by name (case-insensitive): a dataset class the model lacks is reported and skipped, model
classes that the dataset does not name are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from detect.detections import Detections
from detect.engine import OPERATING_CONFIDENCE, OnnxDetector
from detect.image_files import read_image
from lab.detection_metrics import IOU_THRESHOLD, ClassMetrics, MatchTally, mean_ap50
from lab.yolo_dataset import DatasetError, YoloDataset, load_dataset

AP_CONFIDENCE = 0.001

Progress = Callable[[int, int], None]
"""Called after each image with (images done, images in all)."""


class FrameDetector(Protocol):
    """What evaluation needs of a detector (``OnnxDetector`` is one)."""

    confidence: float
    input_size: int

    @property
    def class_names(self) -> tuple[str, ...]: ...

    def detect(self, frame: npt.NDArray[Any]) -> Detections: ...


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """Per-class metrics of one model on one dataset."""

    model: str
    data: str
    image_size: int
    operating_confidence: float
    iou_threshold: float
    images: int
    classes: tuple[ClassMetrics, ...]
    missing_classes: tuple[str, ...]  # named by the dataset, unknown to the model: not evaluated
    unreadable_images: tuple[str, ...]  # skipped
    seconds: float

    @property
    def map50(self) -> float | None:
        """Mean AP50 over the evaluated classes that have instances."""
        return mean_ap50(self.classes)

    @property
    def instances(self) -> int:
        """Objects of the evaluated classes."""
        return sum(c.instances for c in self.classes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "model": self.model,
            "data": self.data,
            "image_size": self.image_size,
            "confidence": self.operating_confidence,
            "iou_threshold": self.iou_threshold,
            "images": self.images,
            "instances": self.instances,
            "map50": self.map50,
            "classes": [
                {
                    "name": c.name,
                    "images": c.images,
                    "instances": c.instances,
                    "detections": c.detections,
                    "precision": c.precision,
                    "recall": c.recall,
                    "ap50": c.ap50,
                }
                for c in self.classes
            ],
            "missing_classes": list(self.missing_classes),
            "unreadable_images": list(self.unreadable_images),
            "seconds": round(self.seconds, 3),
        }


def _key(name: str) -> str:
    return name.strip().casefold()


def class_mapping(
    model_names: Sequence[str], dataset_names: Sequence[str]
) -> npt.NDArray[np.int32]:
    """For each model class id, the dataset class id of the same name, or -1."""
    by_name = {_key(name): index for index, name in enumerate(dataset_names)}
    return np.array([by_name.get(_key(name), -1) for name in model_names], np.int32)


def evaluate(
    detector: FrameDetector,
    dataset: YoloDataset,
    *,
    operating_confidence: float = OPERATING_CONFIDENCE,
    model_label: str = "",
    progress: Progress | None = None,
) -> EvaluationResult:
    """Run ``detector`` on every image of ``dataset`` and score its detections."""
    if detector.confidence > operating_confidence:
        raise ValueError(
            f"the detector drops detections below {detector.confidence}; "
            f"it cannot be evaluated at {operating_confidence}"
        )
    started = time.monotonic()
    names = dataset.class_names
    to_dataset = class_mapping(detector.class_names, names)
    evaluated = sorted({int(i) for i in to_dataset if i >= 0})
    if not evaluated:
        raise DatasetError(
            f"{dataset.source}: none of the dataset classes ({', '.join(names)}) is a class of "
            f"the model ({', '.join(detector.class_names)})"
        )
    tally = MatchTally(len(names))
    unreadable: list[str] = []
    total = len(dataset.images)
    for done, item in enumerate(dataset.images, start=1):
        image = read_image(item.image)
        if image is None:
            unreadable.append(str(item.image))
        else:
            height, width = image.shape[:2]
            found = detector.detect(image)
            ids = to_dataset[found.class_id] if len(found) else np.zeros(0, np.int32)
            known = ids >= 0
            in_scope = np.isin(item.class_id, evaluated)
            tally.add_image(
                found.xyxy[known],
                found.confidence[known],
                ids[known],
                item.xyxy(width, height)[in_scope],
                item.class_id[in_scope],
            )
        if progress is not None:
            progress(done, total)
    return EvaluationResult(
        model=model_label,
        data=str(dataset.source),
        image_size=detector.input_size,
        operating_confidence=operating_confidence,
        iou_threshold=IOU_THRESHOLD,
        images=tally.image_count,
        classes=tally.summarise(names, operating_confidence, evaluated),
        missing_classes=tuple(n for i, n in enumerate(names) if i not in evaluated),
        unreadable_images=tuple(unreadable),
        seconds=time.monotonic() - started,
    )


def evaluate_model(
    model: Path,
    data: Path,
    *,
    image_size: int | None = None,
    operating_confidence: float = OPERATING_CONFIDENCE,
    threads: int = 2,
    progress: Progress | None = None,
    multi_label: bool = False,
) -> EvaluationResult:
    """Evaluate an ONNX model file on a dataset folder or data YAML (``DatasetError``,
    ``ModelError`` when either cannot be used). ``multi_label`` scores every class of a box
    the way ``yolo val`` does; the default is what production runs (the best class)."""
    dataset = load_dataset(data)
    detector = OnnxDetector(
        model,
        input_size=image_size,
        confidence=AP_CONFIDENCE,
        threads=threads,
        multi_label=multi_label,
    )
    return evaluate(
        detector,
        dataset,
        operating_confidence=operating_confidence,
        model_label=str(model),
        progress=progress,
    )
