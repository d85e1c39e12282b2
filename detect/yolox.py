"""YOLOX detect models on ONNX Runtime (Megvii's export: raw grid outputs, BGR 0..255 input).

The layout differs from ultralytics' (``engine.OnnxDetector``): the input is letterboxed to a
square ``size`` at the top-left corner (pad 114, no normalisation, BGR), and the output is
``(batch, anchors, 5 + classes)`` per anchor of the 8/16/32 strides: centre and size in grid
units before the decode (``(xy + grid) * stride``, ``exp(wh) * stride``), objectness and the
class scores. A box's score is objectness times its best class score, as in the YOLOX demo.

We use ``yolox_nano_coco.onnx`` (COCO, 80 classes; ``models/persons.onnx``) as a *person*
finder: it sees people from any side, where our hazard model finds a head only when it sees a
face or a hard hat. A file is recognised as YOLOX by its layout (``is_yolox``): no ultralytics
metadata, one square input and an output of one row per anchor of the three strides.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from core.geometry import nms
from core.vocabulary import PERSON
from detect.detections import Detections
from detect.engine import (
    MAX_WH,
    PAD_VALUE,
    DetectorBase,
    ModelError,
    ModelInfo,
    as_bgr,
    class_floors,
    load_session,
)
from detect.model_format import ModelFormat

Image = npt.NDArray[np.uint8]

STRIDES = (8, 16, 32)
BOX_VALUES = 5  # cx, cy, w, h, objectness before the class scores
DEFAULT_IOU = 0.45  # the YOLOX demo's NMS threshold
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


def anchor_count(size: int) -> int:
    """Rows of a YOLOX output for a square input of ``size``."""
    return sum((size // stride) ** 2 for stride in STRIDES)


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


def is_yolox(session: Any) -> bool:
    """Whether an ONNX Runtime session has YOLOX's layout (and no ultralytics metadata)."""
    meta: dict[str, str] = session.get_modelmeta().custom_metadata_map
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if "names" in meta or len(inputs) != 1 or not outputs:
        return False
    shape, out = inputs[0].shape, outputs[0].shape
    if len(shape) != 4 or not isinstance(shape[2], int) or shape[2] != shape[3] or len(out) != 3:
        return False
    rows, values = out[1], out[2]
    return rows == anchor_count(shape[2]) and isinstance(values, int) and values > BOX_VALUES


def inspect_yolox(session: Any, path: Path, class_names: Sequence[str] = ()) -> ModelInfo:
    """Describe a YOLOX session (``is_yolox``): its classes are ``class_names`` when given, else
    the COCO names for an 80-class head."""
    model_input = session.get_inputs()[0]
    batch, channels, size, _ = model_input.shape
    if channels != 3:
        raise ModelError(f"{path}: the model takes {channels} channels, not 3 (BGR frames)")
    classes = int(session.get_outputs()[0].shape[2]) - BOX_VALUES
    names = tuple(class_names) or (COCO_NAMES if classes == len(COCO_NAMES) else ())
    if len(names) != classes:
        given = f"{len(names)} class names are given" if names else "no class names are given"
        raise ModelError(
            f"{path}: the YOLOX head has {classes} classes but {given} "
            f"(without names, only {len(COCO_NAMES)}-class COCO heads are known)"
        )
    return ModelInfo(
        path=path,
        class_names=names,
        input_size=int(size),
        fixed_input=True,
        end_to_end=False,
        fixed_batch=batch if isinstance(batch, int) else None,
        input_name=model_input.name,
        format=ModelFormat.YOLOX,
    )


class YoloxDetector(DetectorBase):
    """A YOLOX model file: frames in, ``Detections`` (COCO names) in frame pixels out.

    ``confidence`` floors every class, ``class_confidence`` gives some classes their own floor
    (names the model lacks are ignored) and ``use_classes`` (when given) keeps only those
    classes, as ``engine.OnnxDetector`` does."""

    def __init__(
        self,
        path: Path,
        *,
        confidence: float = 0.3,
        iou: float = DEFAULT_IOU,
        threads: int = 2,
        use_classes: Collection[str] = (PERSON,),
        class_confidence: Mapping[str, float] | None = None,
        class_names: Sequence[str] = (),
        input_size: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        self._session = load_session(path, threads, providers)
        if not is_yolox(self._session):
            shapes = [i.shape for i in self._session.get_inputs()]
            outputs = [o.shape for o in self._session.get_outputs()]
            raise ModelError(
                f"{path} is not a YOLOX detect model (inputs {shapes}, outputs {outputs}): "
                "expected one square input and one row per anchor of strides 8, 16 and 32"
            )
        self.info = inspect_yolox(self._session, path, class_names)
        if input_size is not None and input_size != self.info.input_size:
            raise ModelError(
                f"{path} takes {self.info.input_size} px inputs but {input_size} was asked for"
            )
        self.input_size = self.info.input_size
        self._cells, self._strides = grids(self.input_size)
        unknown = set(use_classes) - set(self.class_names)
        if unknown:
            raise ModelError(
                f"{path}: use_classes {sorted(unknown)} are not classes of the model "
                f"(e.g. {', '.join(self.class_names[:8])}...)"
            )
        self.use_classes = frozenset(use_classes)
        self.confidence = confidence
        self.class_confidence = dict(class_confidence or {})
        self._floors = class_floors(
            self.class_names, confidence, self.class_confidence, self.use_classes
        )
        self.iou = iou
        self.providers: list[str] = list(self._session.get_providers())

    def detect_batch(self, frames: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        """Detections for several frames (one inference call each when the model's batch is
        fixed at 1, else one call for all); one result per frame, same order."""
        images = [as_bgr(frame) for frame in frames]
        if not images:
            return []
        blobs, scales = zip(*(self.preprocess(image) for image in images), strict=True)
        if self.info.fixed_batch is None or self.info.fixed_batch == len(images):
            outputs = list(self._run(np.concatenate(blobs)))
        else:
            outputs = [self._run(blob)[0] for blob in blobs]
        return [
            self.decode(output, scale, image.shape[1], image.shape[0])
            for output, scale, image in zip(outputs, scales, images, strict=True)
        ]

    def preprocess(self, image: Image) -> tuple[npt.NDArray[np.float32], float]:
        """(1, 3, size, size) float32 BGR blob, 0..255, the frame at the top left; its scale."""
        height, width = image.shape[:2]
        scale = min(self.input_size / height, self.input_size / width)
        resized = cv2.resize(
            image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR
        )
        canvas = np.full((self.input_size, self.input_size, 3), PAD_VALUE, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32), scale

    def _run(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(self._session.run(None, {self.info.input_name: blob})[0], np.float32)

    def decode(
        self, output: npt.NDArray[np.float32], scale: float, width: int, height: int
    ) -> Detections:
        """One image's raw output to detections in the pixels of a ``width`` x ``height`` frame."""
        floors = self.floors()
        class_scores = output[:, BOX_VALUES:] * output[:, 4:5]
        peaks = class_scores.max(axis=0).astype(np.float32)
        class_scores[:, np.isinf(floors)] = 0
        best = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(best)), best]
        keep = np.flatnonzero(scores > floors[best])
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
            xyxy[kept].astype(np.float32),
            scores[kept],
            classes[kept],
            self.class_names,
            peaks=peaks,
        )
