"""The ONNX detect-model layouts sitewatch decodes (one name per layout, for config and engine)."""

from __future__ import annotations

from enum import StrEnum


class ModelFormat(StrEnum):
    """How a detect model's input is prepared and its output decoded."""

    ULTRALYTICS = "ultralytics"  # ultralytics export: RGB 0..1, centred letterbox, (4 + C, anchors)
    YOLOX = "yolox"  # Megvii YOLOX: BGR 0..255, top-left letterbox, (anchors, 5 + C) grid units
