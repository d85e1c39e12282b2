"""Detector models."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from sitewatch.config.base import Section
from sitewatch.config.camera import NAME_PATTERN


class Model(Section):
    """An ultralytics-exported YOLO detect model in ONNX format."""

    name: str = Field(pattern=NAME_PATTERN, description="Model name.")
    path: Path = Field(description="Path to the .onnx file (relative to the config file).")
    classes: list[str] = Field(
        default_factory=list,
        description="Class names; read from the ONNX metadata when omitted.",
    )
    input_size: int = Field(default=320, ge=32, le=2048, multiple_of=32)
    confidence: float = Field(default=0.25, gt=0, lt=1)
    threads: int = Field(default=2, ge=1, le=64)
