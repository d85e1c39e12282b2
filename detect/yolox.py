"""YOLOX detect models on ONNX Runtime (Megvii's export: raw grid outputs, BGR 0..255 input).

The layout differs from ultralytics' (``engine.OnnxDetector``): the input is letterboxed to a
square ``size`` at the top-left corner (pad 114, no normalisation, BGR), and the output is
``(batch, anchors, 5 + classes)`` per anchor of the 8/16/32 strides: centre and size in grid
units before the decode (``(xy + grid) * stride``, ``exp(wh) * stride``), objectness and the
class scores. A box's score is objectness times its best class score, as in the YOLOX demo.

We use ``yolox_nano_coco.onnx`` (COCO, 80 classes) as a *person* finder: it sees people from any
side, where our hazard model finds a head only when it sees a face or a hard hat.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detect.detections import Detections
from detect.engine import MAX_WH, PAD_VALUE, ModelError, _load_session, as_bgr, nms

Image = npt.NDArray[np.uint8]

STRIDES = (8, 16, 32)
COCO_PERSON = "person"
# The 80 COCO names in the order of YOLOX's class ids.
COCO_NAMES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic_light",
    "fire_hydrant",
    "stop_sign",
    "parking_meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports_ball",
    "kite",
    "baseball_bat",
    "baseball_glove",
    "skateboard",
    "surfboard",
    "tennis_racket",
    "bottle",
    "wine_glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot_dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted_plant",
    "bed",
    "dining_table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell_phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy_bear",
    "hair_drier",
    "toothbrush",
)


def grids(size: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per anchor, its grid cell ``(x, y)`` and its stride, for a square input of ``size``."""
    cells, strides = [], []
    for stride in STRIDES:
        side = size // stride
        ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((side * side, 1), stride))
    return (
        np.concatenate(cells).astype(np.float32),
        np.concatenate(strides).astype(np.float32),
    )


class YoloxDetector:
    """A YOLOX model file: frames in, ``Detections`` (COCO names) in frame pixels out."""

    def __init__(
        self,
        path: Path,
        *,
        confidence: float = 0.3,
        iou: float = 0.45,
        threads: int = 2,
        use_classes: Collection[str] = (COCO_PERSON,),
        providers: Sequence[str] | None = None,
    ) -> None:
        self._session = _load_session(path, threads, providers)
        model_input = self._session.get_inputs()[0]
        shape = model_input.shape
        if len(shape) != 4 or not isinstance(shape[2], int) or shape[2] != shape[3]:
            raise ModelError(f"{path}: expected a square NCHW input, got {shape}")
        self.input_size = int(shape[2])
        self._input_name = model_input.name
        self._cells, self._strides = grids(self.input_size)
        out_shape = self._session.get_outputs()[0].shape
        if out_shape[-1] != 5 + len(COCO_NAMES) or out_shape[-2] != len(self._cells):
            raise ModelError(
                f"{path}: output {out_shape} is not a YOLOX COCO head for {self.input_size} px"
            )
        unknown = set(use_classes) - set(COCO_NAMES)
        if unknown:
            raise ModelError(f"{path}: use_classes {sorted(unknown)} are not COCO classes")
        self._wanted = (
            np.array([name in use_classes for name in COCO_NAMES])
            if use_classes
            else (np.ones(len(COCO_NAMES), bool))
        )
        self.confidence = confidence
        self.iou = iou
        self.class_names: tuple[str, ...] = tuple(COCO_NAMES)

    def detect(self, frame: npt.NDArray[Any]) -> Detections:
        """Detections for one frame."""
        image = as_bgr(frame)
        height, width = image.shape[:2]
        scale = min(self.input_size / height, self.input_size / width)
        resized = cv2.resize(
            image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR
        )
        canvas = np.full((self.input_size, self.input_size, 3), PAD_VALUE, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32)
        output = np.asarray(self._session.run(None, {self._input_name: blob})[0])[0]
        return self.decode(output, scale, width, height)

    def decode(
        self, output: npt.NDArray[np.float32], scale: float, width: int, height: int
    ) -> Detections:
        """One image's raw output to detections in the pixels of a ``width`` x ``height`` frame."""
        class_scores = output[:, 5:] * output[:, 4:5]
        class_scores[:, ~self._wanted] = 0
        best = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(best)), best]
        keep = np.flatnonzero(scores > self.confidence)
        centre = (output[keep, :2] + self._cells[keep]) * self._strides[keep]
        size = np.exp(output[keep, 2:4]) * self._strides[keep]
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / np.float32(scale)
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, width)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, height)
        classes = best[keep].astype(np.int32)
        scores = scores[keep].astype(np.float32)
        offset = (xyxy + (classes.astype(np.float32) * MAX_WH)[:, None]).astype(np.float32)
        kept = nms(offset, scores, self.iou)
        return Detections(
            xyxy[kept].astype(np.float32), scores[kept], classes[kept], self.class_names
        )
