"""Run every configured detector over the frames that are ready, batched across cameras."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from detect.detections import Detections
from detect.engine import FrameError, Image, as_bgr

log = logging.getLogger(__name__)

EWMA_WEIGHT = 0.1


class Detector(Protocol):
    """A loaded model: ``engine.OnnxDetector`` (ultralytics exports) or ``yolox.YoloxDetector``."""

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in id order."""
        ...

    @property
    def input_size(self) -> int:
        """Inference size in pixels (square)."""
        ...

    @property
    def providers(self) -> list[str]:
        """ONNX Runtime execution providers in use, preferred first."""
        ...

    def floors(self) -> npt.NDArray[np.float32]:
        """The score each class id must exceed to be kept (infinite: a class not used)."""
        ...

    def detect_batch(self, frames: Sequence[npt.NDArray[Any]]) -> list[Detections]:
        """Detections of each frame, in frame pixels, same order."""
        ...


@dataclass
class ModelStats:
    """Running figures of one model (for /metrics and /api/health)."""

    frames: int = 0
    batches: int = 0
    errors: int = 0
    ms_per_frame: float | None = None

    def record(self, frames: int, elapsed_s: float) -> None:
        """Count one batch of ``frames`` that took ``elapsed_s``."""
        per_frame = elapsed_s * 1000 / frames
        if self.ms_per_frame is None:
            self.ms_per_frame = per_frame
        else:
            self.ms_per_frame += EWMA_WEIGHT * (per_frame - self.ms_per_frame)
        self.frames += frames
        self.batches += 1


@dataclass
class DetectorStage:
    """Named detectors; ``run`` gives each camera's detections per model."""

    detectors: Mapping[str, Detector]
    stats: dict[str, ModelStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stats = {name: ModelStats() for name in self.detectors}

    def run(self, frames: Mapping[str, npt.NDArray[Any]]) -> dict[str, dict[str, Detections]]:
        """Detections per camera and model; a frame the models cannot take is logged with its
        camera and left out (its camera gets no detections this round)."""
        converted = {camera: self._bgr(camera, frame) for camera, frame in frames.items()}
        usable = {camera: image for camera, image in converted.items() if image is not None}
        found: dict[str, dict[str, Detections]] = {camera: {} for camera in usable}
        if not usable:
            return found
        cameras: Sequence[str] = list(usable)
        images = [usable[camera] for camera in cameras]
        for name, detector in self.detectors.items():
            started = time.perf_counter()
            results = detector.detect_batch(images)
            self.stats[name].record(len(images), time.perf_counter() - started)
            for camera, detections in zip(cameras, results, strict=True):
                found[camera][name] = detections
        return found

    def _bgr(self, camera: str, frame: npt.NDArray[Any]) -> Image | None:
        try:
            return as_bgr(frame)
        except FrameError as error:
            for stats in self.stats.values():
                stats.errors += 1
            log.warning("camera %s: frame skipped by the detector: %s", camera, error)
            return None

    def health(self) -> dict[str, Any]:
        """Numbers for /api/health (and hence /metrics)."""
        figures: dict[str, Any] = {}
        for name, stats in self.stats.items():
            key = name.replace("-", "_")
            figures[f"detector_{key}_frames"] = stats.frames
            figures[f"detector_{key}_errors"] = stats.errors
            if stats.ms_per_frame is not None:
                figures[f"detector_{key}_ms_per_frame"] = round(stats.ms_per_frame, 2)
        return figures
