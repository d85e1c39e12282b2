"""Detector models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from core.config_files import NAME_PATTERN, FieldError, Section
from detect.model_format import ModelFormat

NMS_IOU = {ModelFormat.ULTRALYTICS: 0.7, ModelFormat.YOLOX: 0.45}  # each layout's usual default


class SecondLook(Section):
    """Run this model only on frames where an earlier model saw a hint of its classes: a
    second pass at a larger input size costs more than the first and finds nothing where the
    first gave its classes no score at all (``python -m bench.second_look``)."""

    after: str = Field(
        pattern=NAME_PATTERN, description="Name of the earlier model (in `models`) to ask."
    )
    min_score: float = Field(
        default=0.003,
        gt=0,
        lt=1,
        description="Look again when the earlier model scored one of this model's "
        "`use_classes` at least this high anywhere in the frame (far below any rule's "
        "threshold: a hint, not a detection).",
    )
    class_min_score: dict[str, float] = Field(
        default_factory=dict,
        description="Per-class hints instead of `min_score` (e.g. a bare head needs a "
        "stronger hint than a flame to be worth a second look).",
    )

    def hint_of(self, name: str) -> float:
        """The hint class ``name`` needs."""
        return self.class_min_score.get(name, self.min_score)


class Model(Section):
    """A detect model in ONNX format: an ultralytics export (YOLOv8, YOLO11...) or a YOLOX
    model (e.g. COCO YOLOX-nano as a person finder)."""

    name: str = Field(pattern=NAME_PATTERN, description="Model name.")
    path: Path = Field(description="Path to the .onnx file (relative to the config file).")
    format: ModelFormat = Field(
        default=ModelFormat.ULTRALYTICS,
        description="The file's layout: 'ultralytics' (an ultralytics detect export; class "
        "names and input size in its metadata) or 'yolox' (Megvii's YOLOX export; COCO class "
        "names for an 80-class head, e.g. a 'person' finder for the hard hat and exit rules).",
    )
    classes: list[str] = Field(
        default_factory=list,
        description="Class names; read from the ONNX metadata when omitted.",
    )
    input_size: int | None = Field(
        default=None,
        ge=32,
        le=2048,
        multiple_of=32,
        description="Inference size in pixels (square); the size the model was exported at "
        "when omitted. Larger finds smaller heads and flames, at a higher CPU cost.",
    )
    use_classes: list[str] = Field(
        default_factory=list,
        description="Only these of the model's classes reach the rules (default: all). One "
        "model file can then run at two input sizes, each for the classes it finds best there.",
    )
    class_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="Per-class floors of this model, kept whatever the rules' thresholds: a "
        "second pass at another size can be stricter for the classes it adds.",
    )
    confidence: float = Field(
        default=0.25, gt=0, lt=1, description="Detections below this score are dropped."
    )
    iou: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Per-class NMS overlap threshold (default: 0.7 for ultralytics exports, "
        "0.45 for YOLOX models).",
    )
    second_look: SecondLook | None = Field(
        default=None,
        description="Only where an earlier model saw a hint of this model's classes (a second "
        "look at another size); on every sampled frame when omitted.",
    )
    threads: int = Field(default=2, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    providers: list[str] = Field(
        default_factory=list,
        description="ONNX Runtime execution providers in order of preference; by default CUDA "
        "or OpenVINO when installed, else the CPU.",
    )

    @property
    def nms_iou(self) -> float:
        """``iou``, or the usual threshold of the model's format."""
        return NMS_IOU[self.format] if self.iou is None else self.iou

    def check_class(self, name: str, path: Sequence[str | int]) -> None:
        """Refuse (at ``path``) a class name the model's known ``classes`` do not have."""
        if self.classes and name not in self.classes:
            raise FieldError(
                path,
                f"'{name}' is not a class of model '{self.name}' "
                f"(classes: {', '.join(self.classes)})",
            )
