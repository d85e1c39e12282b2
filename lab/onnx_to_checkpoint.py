"""Rebuild a trainable ultralytics checkpoint from one of our exported ONNX files.

The ONNX export fuses each convolution with its batch norm (``W' = W * g / s``, ``b' = beta -
mean * g / s``). Un-fusing is exact: the convolution takes ``W'`` and the batch norm is
set to undo its own normalisation, ``gamma = sqrt(var + eps)``, ``beta = b' + mean`` with the
mean and variance of that convolution's outputs measured on ``--images`` (the fused network run
on them). In eval mode that is the ONNX file's function exactly; in training mode, where batch
norm uses each batch's own statistics, it is that function up to the batch's deviation from the
measured ones, so training resumes from the model instead of from a scrambled copy of it.
The initializer names of ultralytics' export are the module paths (``model.22.cv3.2.2.weight``),
which is what makes this possible.

Run (train venv): python -m lab.onnx_to_checkpoint models/hazards.onnx --out runs/v1.pt
    --images ../shared/datasets/hazards/images/train

"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lab.training import apply_offline_settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.onnx_to_checkpoint", description=__doc__)
    parser.add_argument("onnx_file", type=Path)
    parser.add_argument("--arch", default="yolov8n.yaml", help="ultralytics model YAML")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="folder of training images")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--count", type=int, default=256, help="images for the statistics")
    args = parser.parse_args(argv)
    apply_offline_settings()
    import onnx
    import torch
    from onnx import numpy_helper
    from ultralytics import YOLO
    from ultralytics.nn.modules import Conv

    graph = onnx.load(str(args.onnx_file))
    weights = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    meta = {p.key: p.value for p in graph.metadata_props}
    names: dict[int, str] = ast.literal_eval(meta["names"])
    yolo = YOLO(args.arch)
    model = yolo.model
    detect_head = model.model[-1]
    if detect_head.nc != len(names):
        from ultralytics.nn.tasks import DetectionModel

        model = DetectionModel(args.arch, nc=len(names), verbose=False)
        yolo.model = model
    used: set[str] = set()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, Conv) and hasattr(module, "bn"):
                weight, bias = weights[f"{name}.conv.weight"], weights[f"{name}.conv.bias"]
                module.conv.weight.copy_(torch.from_numpy(weight))
                module.bn.weight.fill_(1.0)
                module.bn.bias.copy_(torch.from_numpy(bias))
                module.bn.running_mean.zero_()
                module.bn.running_var.fill_(1.0 - module.bn.eps)
                used |= {f"{name}.conv.weight", f"{name}.conv.bias"}
            elif isinstance(module, torch.nn.Conv2d) and f"{name}.weight" in weights:
                module.weight.copy_(torch.from_numpy(weights[f"{name}.weight"]))
                if module.bias is not None:
                    module.bias.copy_(torch.from_numpy(weights[f"{name}.bias"]))
                used |= {f"{name}.weight", f"{name}.bias"}
    calibrate(model, args.images, args.imgsz, args.count)
    missing = [k for k, v in weights.items() if k.startswith("model.") and k not in used]
    print(f"copied {len(used)} tensors; not used: {missing}")
    model.names = names
    args.out.parent.mkdir(parents=True, exist_ok=True)
    yolo.save(str(args.out))
    check(args.onnx_file, yolo, len(names))
    print(f"wrote {args.out}")


def calibrate(model: Any, images: Path, size: int, count: int) -> None:
    """Give each batch norm the statistics of its convolution's outputs (see the docstring)."""
    import torch
    from ultralytics.nn.modules import Conv

    files = sorted(p for p in images.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    rng = np.random.default_rng(0)
    picked = [files[i] for i in rng.choice(len(files), min(count, len(files)), replace=False)]
    sums: dict[str, Any] = {}
    hooks = []
    convs = {n: m for n, m in model.named_modules() if isinstance(m, Conv) and hasattr(m, "bn")}

    def hook(name: str) -> Any:
        def record(_module: Any, _inputs: Any, output: Any) -> None:
            flat = output.detach().double().transpose(0, 1).reshape(output.shape[1], -1)
            total, square, n = sums.get(name, (0.0, 0.0, 0))
            sums[name] = (total + flat.sum(1), square + (flat**2).sum(1), n + flat.shape[1])

        return record

    for name, module in convs.items():
        hooks.append(module.conv.register_forward_hook(hook(name)))
    model.eval()
    with torch.no_grad():
        for start in range(0, len(picked), 16):
            batch = np.stack([letterboxed(p, size) for p in picked[start : start + 16]])
            model(torch.from_numpy(batch))
    for handle in hooks:
        handle.remove()
    with torch.no_grad():
        for name, module in convs.items():
            total, square, n = sums[name]
            mean = total / n
            var = (square / n - mean**2).clamp(min=1e-6)
            bn = module.bn
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.add_(mean.float())


def letterboxed(path: Path, size: int) -> Any:
    """An image as the trainer feeds it: RGB, letterboxed square, CHW float in 0..1."""
    import cv2

    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(image, (round(width * scale), round(height * scale)))
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1), np.float32) / 255


def check(onnx_file: Path, yolo: object, classes: int) -> None:
    """The rebuilt model and the ONNX file agree on a random input."""
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    blob = np.random.default_rng(0).random((1, 3, 320, 320), np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: blob})[0]
    model = yolo.model  # type: ignore[attr-defined]
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(blob))[0].numpy()
    scores = np.abs(got[:, 4 : 4 + classes] - expected[:, 4 : 4 + classes]).max()
    boxes = np.abs(got[:, :4] - expected[:, :4]).max()
    print(f"largest difference: scores {scores:.2e}, boxes {boxes:.2e} px")
    if scores > 1e-3 or boxes > 0.1:
        raise SystemExit("the rebuilt model does not match the ONNX file")


if __name__ == "__main__":
    main()
