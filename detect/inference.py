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


@dataclass(frozen=True, slots=True)
class SecondLook:
    """A model that looks again only where the earlier model ``after`` saw a hint: a frame is
    given to it when ``after`` scored one of ``class_ids`` (its class ids) at that class's
    ``min_scores`` or more anywhere in the frame (``Detections.peaks``), far below any rule's
    threshold. Where ``after`` saw nothing of the kind, the second look would find nothing
    either (measured on held-out pictures: ``bench.second_look``), and its cost is saved."""

    after: str
    class_ids: tuple[int, ...]
    min_scores: tuple[float, ...]  # one per class id

    def __post_init__(self) -> None:
        if len(self.class_ids) != len(self.min_scores):
            raise ValueError("a second look needs one hint per class")

    def wanted(self, earlier: Detections) -> bool:
        """Whether the frame ``after`` found ``earlier`` on deserves the second look (yes when
        the earlier model reports no peaks)."""
        if earlier.peaks is None:
            return True
        peaks = earlier.peaks[list(self.class_ids)]
        return bool((peaks >= np.array(self.min_scores, np.float32)).any())


@dataclass
class ModelStats:
    """Running figures of one model (for /metrics and /api/health)."""

    frames: int = 0
    batches: int = 0
    errors: int = 0
    skipped: int = 0  # frames a second look was not needed on
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
    """Named detectors, run in order; ``run`` gives each camera's detections per model. A model
    with a ``SecondLook`` runs only on the frames its earlier model found a hint on (the others
    get no detections of it)."""

    detectors: Mapping[str, Detector]
    second_looks: Mapping[str, SecondLook] = field(default_factory=dict)
    stats: dict[str, ModelStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stats = {name: ModelStats() for name in self.detectors}
        order = list(self.detectors)
        for name, look in self.second_looks.items():
            if name not in self.detectors:
                raise ValueError(f"second look for unknown model '{name}'")
            if look.after not in order[: order.index(name)]:
                raise ValueError(
                    f"model '{name}' looks again after '{look.after}', "
                    "which is not a model before it"
                )

    def run(self, frames: Mapping[str, npt.NDArray[Any]]) -> dict[str, dict[str, Detections]]:
        """Detections per camera and model; a frame the models cannot take is logged with its
        camera and left out (its camera gets no detections this round)."""
        converted = {camera: self._bgr(camera, frame) for camera, frame in frames.items()}
        usable = {camera: image for camera, image in converted.items() if image is not None}
        found: dict[str, dict[str, Detections]] = {camera: {} for camera in usable}
        if not usable:
            return found
        for name, detector in self.detectors.items():
            cameras: Sequence[str] = list(usable)
            look = self.second_looks.get(name)
            if look is not None:
                cameras = [c for c in cameras if look.wanted(found[c][look.after])]
                self.stats[name].skipped += len(usable) - len(cameras)
                for camera in usable.keys() - set(cameras):
                    found[camera][name] = Detections.empty(detector.class_names)
            if not cameras:
                continue
            started = time.perf_counter()
            results = detector.detect_batch([usable[camera] for camera in cameras])
            self.stats[name].record(len(cameras), time.perf_counter() - started)
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
            if name in self.second_looks:
                figures[f"detector_{key}_skipped"] = stats.skipped
            if stats.ms_per_frame is not None:
                figures[f"detector_{key}_ms_per_frame"] = round(stats.ms_per_frame, 2)
        return figures
