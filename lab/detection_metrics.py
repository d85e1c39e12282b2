"""Detection metrics: matching to ground truth, AP50, precision and recall at a threshold.

Matching is COCO's: per image, detections in falling confidence take the unmatched ground-truth
box of their class with the highest IoU, if that IoU is at least 0.5; every other detection is a
false positive. AP is computed exactly as ultralytics' ``compute_ap`` (``yolo val``): the
precision-recall curve closed with sentinels, its monotone envelope, sampled at 101 recall points
and integrated with the trapezoidal rule. That method tops out at 0.995 for a flawless class (the
last step, from recall 0.99 to 1.0, is a trapezoid down to zero precision): it is what ``yolo val``
prints, so our figures stay comparable with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.geometry import box_iou

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

IOU_THRESHOLD = 0.5
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
_EPS = 1e-16


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """One class over an evaluation set; ``precision``, ``recall`` and ``detections`` at the
    operating threshold, ``ap50`` over all confidences (None when the set has no instance)."""

    name: str
    images: int
    instances: int
    detections: int
    precision: float
    recall: float
    ap50: float | None


def match_detections(
    xyxy: FloatArray,
    confidence: FloatArray,
    class_id: IntArray,
    truth_xyxy: FloatArray,
    truth_class_id: IntArray,
    iou_threshold: float = IOU_THRESHOLD,
) -> BoolArray:
    """Whether each detection (in the order given) is a true positive."""
    hit = np.zeros(len(confidence), np.bool_)
    if not len(confidence) or not len(truth_class_id):
        return hit
    iou = box_iou(xyxy, truth_xyxy)
    iou[class_id[:, None] != truth_class_id[None, :]] = 0.0
    eligible = iou >= iou_threshold
    candidates = np.flatnonzero(eligible.any(axis=1))  # the rest cannot match anything
    taken = np.zeros(len(truth_class_id), np.bool_)
    for row in candidates[np.argsort(-confidence[candidates], kind="stable")]:
        free = np.where(eligible[row] & ~taken, iou[row], -1.0)
        best = int(free.argmax())
        if free[best] >= 0:
            taken[best] = True
            hit[row] = True
    return hit


def average_precision(hit_by_confidence: BoolArray, instances: int) -> float:
    """AP of detections sorted by falling confidence (True: a match) against ``instances``
    ground-truth objects, as ``yolo val`` computes it."""
    if not len(hit_by_confidence) or not instances:
        return 0.0
    true_positives = np.cumsum(hit_by_confidence)
    false_positives = np.cumsum(~hit_by_confidence)
    recall = true_positives / (instances + _EPS)
    precision = true_positives / (true_positives + false_positives)
    recall_axis = np.concatenate(([0.0], recall, [recall[-1]], [1.0]))
    envelope = np.concatenate(([1.0], precision, [0.0], [0.0]))
    envelope = np.flip(np.maximum.accumulate(np.flip(envelope)))
    sampled = np.interp(RECALL_POINTS, recall_axis, envelope)
    return float(np.sum((sampled[1:] + sampled[:-1]) / 2 * np.diff(RECALL_POINTS)))


class MatchTally:
    """Detections and ground truth gathered image by image, summarised per class at the end.

    Class ids index the dataset's class names; detections must already use those ids.
    """

    def __init__(self, class_count: int, iou_threshold: float = IOU_THRESHOLD) -> None:
        self.iou_threshold = iou_threshold
        self.image_count = 0
        self._confidence: list[FloatArray] = []
        self._class_id: list[IntArray] = []
        self._hit: list[BoolArray] = []
        self._instances = np.zeros(class_count, np.int64)
        self._images = np.zeros(class_count, np.int64)

    def add_image(
        self,
        xyxy: FloatArray,
        confidence: FloatArray,
        class_id: IntArray,
        truth_xyxy: FloatArray,
        truth_class_id: IntArray,
    ) -> None:
        """Match one image's detections to its ground truth and keep the outcome."""
        hit = match_detections(
            xyxy, confidence, class_id, truth_xyxy, truth_class_id, self.iou_threshold
        )
        self._confidence.append(confidence.astype(np.float32))
        self._class_id.append(class_id.astype(np.int32))
        self._hit.append(hit)
        present = np.bincount(truth_class_id, minlength=len(self._instances))
        self._instances += present
        self._images += present > 0
        self.image_count += 1

    def summarise(
        self, names: Sequence[str], operating_confidence: float, classes: Sequence[int]
    ) -> tuple[ClassMetrics, ...]:
        """Metrics of the ``classes`` (ids into ``names``); precision and recall count the
        detections an engine at ``operating_confidence`` keeps (confidence above it)."""
        confidence = np.concatenate([np.zeros(0, np.float32), *self._confidence])
        class_id = np.concatenate([np.zeros(0, np.int32), *self._class_id])
        hit = np.concatenate([np.zeros(0, np.bool_), *self._hit])
        order = np.argsort(-confidence, kind="stable")
        confidence, class_id, hit = confidence[order], class_id[order], hit[order]
        results = []
        for index in classes:
            mine = class_id == index
            instances = int(self._instances[index])
            kept = mine & (confidence > operating_confidence)
            matched = int(hit[kept].sum())
            detections = int(kept.sum())
            results.append(
                ClassMetrics(
                    name=names[index],
                    images=int(self._images[index]),
                    instances=instances,
                    detections=detections,
                    precision=matched / detections if detections else 0.0,
                    recall=matched / instances if instances else 0.0,
                    ap50=average_precision(hit[mine], instances) if instances else None,
                )
            )
        return tuple(results)


def mean_ap50(classes: Sequence[ClassMetrics]) -> float | None:
    """Mean AP50 of the classes with instances (None when there are none)."""
    values = [c.ap50 for c in classes if c.ap50 is not None]
    return float(np.mean(values)) if values else None
