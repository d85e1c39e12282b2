"""An INT8 copy of an ultralytics detect export for CPUs with VNNI/AMX: ONNX Runtime's static
quantization (QDQ: unsigned 8-bit activations, signed 8-bit per-channel weights), calibrated on
training photos (never the validation split or the footage the model is measured on).

The detect head's box decoding (the ``Concat``/``Split``/``Sigmoid``/arithmetic nodes of the
last module) stays in float: the scores the rules' low thresholds read and the box coordinates
keep their resolution; every convolution is quantized. The class names, strides and input size
in the file's metadata are kept, so sitewatch loads the result like the original (``path:`` of
a ``models`` entry). Measure it before use (``sitewatch eval``, ``bench.second_look``,
``bench.rules_eval --models-from``, ``bench.footage``): quantization moves low scores.

Needs the train extra (``onnx``; ``make .venv-train/.installed``).

Run: .venv-train/bin/python -m lab.quantize models/hazards.onnx --out data/quant/hazards-int8.onnx \
         --images data/training/hazards-v2/images/train --count 128 --imgsz 416
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from detect.engine import PAD_VALUE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def calibration_images(folder: Path, count: int, seed: int) -> list[Path]:
    """``count`` pictures of ``folder``, drawn at random (the same ones for the same seed)."""
    pictures = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not pictures:
        raise SystemExit(f"no pictures in {folder}")
    random.Random(seed).shuffle(pictures)
    return pictures[:count]


def blob(path: Path, size: int) -> npt.NDArray[np.float32]:
    """The picture as the model takes it: letterboxed into a ``size`` square (top left, grey
    padding), RGB, NCHW, 0..1."""
    read = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if read is None:
        raise SystemExit(f"cannot read {path}")
    height, width = read.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(read, (max(1, round(width * scale)), max(1, round(height * scale))))
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    rgb = np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1))[None]
    return np.asarray(rgb, np.float32) / np.float32(255)


def float_nodes(graph: Any) -> list[str]:
    """The names of the detect head's decoding nodes (kept in float)."""
    last = max(
        (
            int(node.name.split("/")[1].split(".")[1])
            for node in graph.node
            if node.name.startswith("/model.")
        ),
        default=-1,
    )
    prefix = f"/model.{last}/"
    decoding = {"Concat", "Split", "Sigmoid", "Softmax", "Sub", "Add", "Div", "Mul", "Reshape"}
    return [
        node.name
        for node in graph.node
        if node.name.startswith(prefix) and node.op_type in decoding and "/cv" not in node.name
    ]


def quantize(source: Path, out: Path, pictures: Sequence[Path], size: int) -> list[str]:
    """Write the INT8 model; the names of the nodes left in float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out.parent.mkdir(parents=True, exist_ok=True)
    prepared = out.with_suffix(".prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared))
    input_name = model.graph.input[0].name
    kept = float_nodes(model.graph)

    class Pictures(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._blobs: Iterator[npt.NDArray[np.float32]] = (blob(p, size) for p in pictures)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            found = next(self._blobs, None)
            return None if found is None else {input_name: found}

    quantize_static(
        str(prepared),
        str(out),
        Pictures(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=kept,
    )
    prepared.unlink()
    quantized = onnx.load(str(out))
    present = {prop.key for prop in quantized.metadata_props}
    for prop in onnx.load(str(source)).metadata_props:  # names, stride, imgsz: as the source
        if prop.key not in present:
            quantized.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(quantized, str(out))
    return kept


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.quantize", description=__doc__)
    parser.add_argument("model", type=Path, help="an ultralytics detect export (.onnx)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="training pictures")
    parser.add_argument("--count", type=int, default=128, help="calibration pictures")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pictures = calibration_images(args.images, args.count, args.seed)
    kept = quantize(args.model, args.out, pictures, args.imgsz)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB; {len(kept)} nodes in float)")


if __name__ == "__main__":
    main()
