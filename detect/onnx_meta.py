"""Class names and input size from the metadata ultralytics writes into exported ONNX files."""

from __future__ import annotations

import ast
from pathlib import Path


def read_class_names(path: Path) -> list[str]:
    """Class names in index order; ValueError when the file carries none."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ValueError(f"not a loadable ONNX model: {error}") from error
    names = session.get_modelmeta().custom_metadata_map.get("names")
    if not names:
        raise ValueError("the model has no 'names' metadata; list its classes in the config")
    parsed = ast.literal_eval(names)
    if not isinstance(parsed, dict):
        raise ValueError(f"unexpected 'names' metadata: {names[:80]}")
    return [str(parsed[index]) for index in sorted(parsed)]
