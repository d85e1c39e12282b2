"""What a model file is, without running it: its layout (ultralytics or YOLOX), classes and size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from detect.engine import ModelInfo, inspect_session, load_session
from detect.yolox import inspect_yolox, is_yolox


def describe_model(path: Path, class_names: Sequence[str] = ()) -> ModelInfo:
    """Open a model file only to check and describe it (ModelError says what is wrong); a
    YOLOX file (``ModelFormat.YOLOX``, decoded by ``detect.yolox``) is recognised by its
    output layout."""
    session = load_session(path, 1, ["CPUExecutionProvider"])
    if is_yolox(session):
        return inspect_yolox(session, path, class_names)
    return inspect_session(session, path, class_names)
