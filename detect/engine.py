"""ONNX Runtime engine for ultralytics-exported YOLO detect models (no torch at run time).

Preprocessing reproduces ultralytics' letterbox exactly (same scale, rounding and grey 114
padding), so our boxes match ``YOLO.predict`` on the same weights. Two output layouts are decoded:
the raw head ``(batch, 4 + classes, anchors)`` of YOLOv8/YOLO11 (per-class NMS here) and the
end-to-end ``(batch, max_det, 6)`` of YOLOv10/YOLO26 or exports with ``nms=True``.
"""

from __future__ import annotations

import ast
import logging
import threading
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from core.errors import SitewatchError
from core.geometry import nms
from detect.detections import Detections
from detect.model_format import ModelFormat

log = logging.getLogger(__name__)

PAD_VALUE = 114
MAX_WH = 7680.0  # class offset for batched per-class NMS, as in ultralytics
PREFERRED_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)

Image = npt.NDArray[np.uint8]


OPERATING_CONFIDENCE = 0.25  # the default score threshold of `sitewatch detect` and `eval`'s P/R


class ModelError(SitewatchError, ValueError):
    """A model file that cannot be used, with the file and the reason."""


class FrameError(SitewatchError, ValueError):
    """A frame the detector cannot take (empty, wrong channels)."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model file says about itself."""

    path: Path
    class_names: tuple[str, ...]
    input_size: int
    fixed_input: bool
    end_to_end: bool
    fixed_batch: int | None
    input_name: str
    format: ModelFormat = ModelFormat.ULTRALYTICS


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one frame is placed into the model input: ``input = frame * scale + pad``."""

    scale: float
    pad_x: int
    pad_y: int
    width: int
    height: int
    resized_w: int
    resized_h: int
    canvas_w: int
    canvas_h: int


def plan_letterbox(
    width: int, height: int, size: int, stride: int = 32, rect: bool = False
) -> Letterbox:
    """ultralytics' letterbox geometry: fit into ``size``, centre, pad with grey.

    ``rect`` pads only up to the next multiple of ``stride`` (a 16:9 frame becomes 320x192
    instead of 320x320: 40 % less work), as ultralytics does for dynamic-shape models.
    """
    scale = min(size / height, size / width)
    new_w, new_h = round(width * scale), round(height * scale)
    pad_w, pad_h = size - new_w, size - new_h
    if rect:
        pad_w, pad_h = pad_w % stride, pad_h % stride
    left, top = round(pad_w / 2 - 0.1), round(pad_h / 2 - 0.1)
    return Letterbox(scale, left, top, width, height, new_w, new_h, new_w + pad_w, new_h + pad_h)


def place(frame: Image, plan: Letterbox, out: Image) -> None:
    """Resize ``frame`` into ``out`` (the canvas, already filled with the pad value)."""
    size = (plan.resized_w, plan.resized_h)
    resized = (
        frame
        if size == (plan.width, plan.height)
        else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    )
    out[plan.pad_y : plan.pad_y + plan.resized_h, plan.pad_x : plan.pad_x + plan.resized_w] = (
        resized
    )


def session_options(threads: int, spinning: bool = False) -> Any:
    """ONNX Runtime options of our sessions: ``threads`` intra-op threads, sequential, all graph
    optimisations. Idle worker threads must not busy-wait by default: the cores are shared with
    the camera decoders (measured 1.5-2x faster at 2 threads on a loaded 2-core machine, the
    same at 1 thread).

    No CPU memory arena and no memory patterns: batches vary from 1 to one frame per camera,
    and each session's arena grew (in power-of-two chunks) to the largest batch's activations
    and kept them, besides a memory pattern per batch size. The example configuration's three
    sessions, fed batches of 1 to 8 720p frames, held 355 MB above their weights with them and
    80 MB without, for the same CPU per frame (within 3 %); README, Performance."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


# Sessions by (file, its mtime and size, threads, providers), alive while a detector holds one.
_SESSIONS: weakref.WeakValueDictionary[tuple[str, int, int, int, tuple[str, ...]], Any] = (
    weakref.WeakValueDictionary()
)
_SESSIONS_LOCK = threading.Lock()


def load_session(path: Path, threads: int, providers: Sequence[str] | None) -> Any:
    """An ONNX Runtime session of ``path``, shared by every detector of the same file, thread
    count and providers (a session runs any input size of a dynamic-shape model and its runs
    keep no state: the example's 416 and 512 px passes hold the weights once, 24 MB less). A
    file replaced on disk (new mtime or size) gets a new session."""
    import onnxruntime

    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    available = onnxruntime.get_available_providers()
    chosen = [p for p in (providers or PREFERRED_PROVIDERS) if p in available]
    if not chosen:
        raise ModelError(f"none of the execution providers {providers} is installed ({available})")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, threads, tuple(chosen))
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            return session
        try:
            session = onnxruntime.InferenceSession(
                str(path), session_options(threads), providers=chosen
            )
        except Exception as error:  # onnxruntime raises untyped errors for bad files
            text = str(error).strip()
            first_line = text.splitlines()[0] if text else repr(error)
            raise ModelError(f"{path} is not a loadable ONNX model: {first_line[:300]}") from error
        _SESSIONS[key] = session
        return session


def _parse_names(meta: dict[str, str], path: Path) -> tuple[str, ...]:
    text = meta.get("names")
    if not text:
        return ()
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise ModelError(f"{path}: unreadable 'names' metadata {text[:80]!r}") from error
    if isinstance(parsed, dict):
        return tuple(str(parsed[key]) for key in sorted(parsed))
    if isinstance(parsed, list | tuple):
        return tuple(str(name) for name in parsed)
    raise ModelError(f"{path}: unexpected 'names' metadata {text[:80]!r}")


def inspect_session(session: Any, path: Path, class_names: Sequence[str] = ()) -> ModelInfo:
    """Check that a session is a YOLO detect model and describe it."""
    meta: dict[str, str] = session.get_modelmeta().custom_metadata_map
    task = meta.get("task", "detect")
    if task != "detect":
        raise ModelError(f"{path} is a '{task}' model; sitewatch needs a 'detect' model")
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        shapes = [i.shape for i in inputs]
        raise ModelError(f"{path}: expected one image input (batch, 3, h, w), found {shapes}")
    batch, channels, height, width = inputs[0].shape
    if channels != 3 and isinstance(channels, int):
        raise ModelError(f"{path}: the model takes {channels} channels, not 3 (BGR frames)")
    names = tuple(class_names) or _parse_names(meta, path)
    if not names:
        raise ModelError(f"{path} has no class names in its metadata; list them in the config")
    if not outputs or len(outputs[0].shape) != 3:
        raise ModelError(f"{path}: not a detect model (first output {outputs[0].shape})")
    end_to_end = meta.get("end2end", "False") == "True" or "nms" in _args(meta)
    rows = outputs[0].shape[1]
    last = outputs[0].shape[2]
    if end_to_end:
        if isinstance(last, int) and last != 6:
            raise ModelError(f"{path}: end-to-end output must have 6 values per box, has {last}")
    elif isinstance(rows, int) and rows != 4 + len(names):
        raise ModelError(
            f"{path}: output has {rows} rows per anchor but {len(names)} classes need "
            f"{4 + len(names)} (a segmentation or pose model, or wrong class names?)"
        )
    fixed = isinstance(height, int) and isinstance(width, int)
    if fixed and height != width:
        raise ModelError(f"{path}: only square inputs are supported, model takes {width}x{height}")
    size = int(height) if fixed else _metadata_size(meta, default=640)
    return ModelInfo(
        path=path,
        class_names=names,
        input_size=size,
        fixed_input=fixed,
        end_to_end=end_to_end,
        fixed_batch=batch if isinstance(batch, int) else None,
        input_name=inputs[0].name,
    )


def _args(meta: dict[str, str]) -> dict[str, Any]:
    try:
        parsed = ast.literal_eval(meta.get("args", "{}"))
    except (ValueError, SyntaxError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {key: value for key, value in parsed.items() if value}


def _metadata_size(meta: dict[str, str], default: int) -> int:
    try:
        parsed = ast.literal_eval(meta.get("imgsz", str(default)))
    except (ValueError, SyntaxError):
        return default
    if isinstance(parsed, list | tuple) and parsed:
        return int(parsed[0])
    return int(parsed)


def as_bgr(frame: npt.NDArray[Any]) -> Image:
    """A frame as 3-channel uint8 BGR: grey is expanded, BGRA loses alpha; else FrameError."""
    if frame.size == 0:
        raise FrameError(f"empty frame (shape {frame.shape})")
    if frame.dtype != np.uint8:
        raise FrameError(f"frame must be uint8, got {frame.dtype}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), np.uint8)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR), np.uint8)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise FrameError(f"frame must be HxW, HxWx1, HxWx3 or HxWx4, got shape {frame.shape}")


def class_floors(
    names: Sequence[str],
    confidence: float,
    class_confidence: Mapping[str, float],
    use_classes: Collection[str],
) -> npt.NDArray[np.float32]:
    """The score each class id must exceed to be kept: its own floor from
    ``class_confidence``, else ``confidence``; infinite for a class outside ``use_classes``
    (when given)."""
    return np.array(
        [
            class_confidence.get(name, confidence)
            if not use_classes or name in use_classes
            else np.inf
            for name in names
        ],
        np.float32,
    )


class DetectorBase:
    """What every detector shares: its model's description, the per-class score floors and
    detection of one frame through ``detect_batch``."""

    info: ModelInfo
    _floors: npt.NDArray[np.float32]

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in id order."""
        return self.info.class_names

    def floors(self) -> npt.NDArray[np.float32]:
        """The score each class id must exceed to be kept (infinite: a class not used)."""
        return self._floors

    def detect(self, frame: npt.NDArray[Any]) -> Detections:
        """Detections for one frame."""
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        """Detections for several frames, one result per frame in the same order."""
        raise NotImplementedError


class OnnxDetector(DetectorBase):
    """A YOLO detect model on ONNX Runtime: frames in, ``Detections`` in frame pixels out."""

    def __init__(
        self,
        path: Path,
        *,
        input_size: int | None = None,
        confidence: float = 0.25,
        iou: float = 0.7,
        threads: int = 2,
        max_detections: int = 300,
        class_names: Sequence[str] = (),
        providers: Sequence[str] | None = None,
        multi_label: bool = False,
        class_confidence: Mapping[str, float] | None = None,
        use_classes: Collection[str] = (),
    ) -> None:
        """``multi_label`` keeps every class above ``confidence`` for a box instead of only the
        best one: what ``yolo val`` measures; production uses the best class, like predict.
        ``class_confidence`` gives some classes their own floor instead of ``confidence`` (the
        rules' thresholds for the classes they read); names the model lacks are ignored.
        ``use_classes`` (when given) drops the boxes of every other class."""
        self.multi_label = multi_label
        self._session = load_session(path, threads, providers)
        self.info = inspect_session(self._session, path, class_names)
        if input_size is not None and self.info.fixed_input and input_size != self.info.input_size:
            raise ModelError(
                f"{path} takes {self.info.input_size} px inputs but {input_size} was asked for; "
                "set input_size to the model's size or export the model with dynamic=True"
            )
        if input_size is not None and input_size % 32:
            raise ModelError(f"input size {input_size} is not a multiple of 32")
        self.input_size = input_size or self.info.input_size
        self.confidence = confidence
        self.class_confidence = dict(class_confidence or {})
        unknown = set(use_classes) - set(self.class_names)
        if unknown:
            raise ModelError(
                f"{path}: use_classes {sorted(unknown)} are not classes of the model "
                f"({', '.join(self.class_names)})"
            )
        self.use_classes = frozenset(use_classes)
        self._floors = class_floors(
            self.class_names, confidence, self.class_confidence, self.use_classes
        )
        self.iou = iou
        self.max_detections = max_detections
        self.stride = 32
        self.rect = not self.info.fixed_input
        self.providers: list[str] = list(self._session.get_providers())
        self._output_name = self._session.get_outputs()[0].name

    def detect_batch(self, frames: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        """Detections for several frames, batched into as few inference calls as possible
        (frames of the same size share one call); one result per frame, same order."""
        images = [as_bgr(frame) for frame in frames]
        plans = [self.plan(image) for image in images]
        results: list[Detections | None] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for index, plan in enumerate(plans):
            groups.setdefault((plan.canvas_h, plan.canvas_w), []).append(index)
        for members in groups.values():
            blob = self.preprocess([images[i] for i in members], [plans[i] for i in members])
            raw = self._run(blob)
            for row, index in enumerate(members):
                results[index] = self.postprocess(raw[row], plans[index])
        return [r if r is not None else Detections.empty(self.class_names) for r in results]

    def plan(self, image: Image) -> Letterbox:
        """Where a frame goes in the model input."""
        height, width = image.shape[:2]
        return plan_letterbox(width, height, self.input_size, self.stride, rect=self.rect)

    def preprocess(self, images: Sequence[Image], plans: Sequence[Letterbox]) -> Any:
        """Letterboxed float32 NCHW RGB blob in [0, 1] (all plans share one canvas size)."""
        canvas = np.full(
            (len(images), plans[0].canvas_h, plans[0].canvas_w, 3), PAD_VALUE, np.uint8
        )
        for image, plan, out in zip(images, plans, canvas, strict=True):
            place(image, plan, out)
        blob = np.ascontiguousarray(canvas[..., ::-1].transpose(0, 3, 1, 2), np.float32)
        blob *= np.float32(1 / 255)
        return blob

    def _run(self, blob: Any) -> npt.NDArray[np.float32]:
        fixed = self.info.fixed_batch
        name = self.info.input_name
        if fixed is None or fixed == len(blob):
            return np.asarray(self._session.run([self._output_name], {name: blob})[0])
        parts = [
            self._session.run([self._output_name], {name: blob[i : i + 1]})[0]
            for i in range(len(blob))
        ]
        return np.concatenate(parts)

    def postprocess(self, output: npt.NDArray[np.float32], box: Letterbox) -> Detections:
        """Decode one image's raw output into detections in frame pixels."""
        if self.info.end_to_end:
            ids = np.clip(output[:, 5].astype(np.int64), 0, len(self.class_names) - 1)
            peaks = np.zeros(len(self.class_names), np.float32)
            np.maximum.at(peaks, ids, output[:, 4].astype(np.float32))
            rows = output[output[:, 4] > self.floors()[ids]][: self.max_detections]
            xyxy = rows[:, :4].astype(np.float32)
            scores = rows[:, 4].astype(np.float32)
            classes = rows[:, 5].astype(np.int32)
        else:
            xyxy, scores, classes = self._decode_raw(output)
            peaks = output[4:].max(axis=1).astype(np.float32)
        xyxy = (xyxy - np.array([box.pad_x, box.pad_y] * 2, np.float32)) / np.float32(box.scale)
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, box.width)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, box.height)
        return Detections(xyxy.astype(np.float32), scores, classes, self.class_names, peaks=peaks)

    def _decode_raw(
        self, output: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int32]]:
        class_scores = output[4:]
        floors = self.floors()
        if self.multi_label:  # every class above the threshold (as `yolo val` does)
            classes, anchors = np.nonzero(class_scores > floors[:, None])
            scores = class_scores[classes, anchors]
        else:  # the best class of each anchor (as `YOLO.predict` does)
            best = class_scores.argmax(axis=0)
            scores = class_scores[best, np.arange(class_scores.shape[1])]
            anchors = np.flatnonzero(scores > floors[best])
            classes, scores = best[anchors], scores[anchors]
        cx, cy, w, h = output[:4, anchors]
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        scores = scores.astype(np.float32)
        classes = np.asarray(classes, np.int32)
        if len(scores) > 30000:
            top = np.argsort(-scores)[:30000]
            xyxy, scores, classes = xyxy[top], scores[top], classes[top]
        offset = xyxy + (classes.astype(np.float32) * MAX_WH)[:, None]
        kept = nms(offset, scores, self.iou)[: self.max_detections]
        return xyxy[kept].astype(np.float32), scores[kept], np.asarray(classes[kept], np.int32)
