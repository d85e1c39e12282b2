"""Tiny YOLO-format datasets written on the fly for evaluation tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

SHARED_DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "hazards"
MODEL = Path(__file__).resolve().parents[1] / "models" / "hazards.onnx"


def write_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """A small noisy picture (any format cv2 writes, by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")
    return path


def write_dataset(
    root: Path,
    labels: Mapping[str, str],
    *,
    names: Sequence[str] | None = ("fire", "smoke"),
    split: str | None = "val",
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Path:
    """``root/images[/split]/<stem>.png`` for every key of ``labels`` and its label text in
    ``root/labels[/split]/<stem>.txt``; ``names`` go into ``root/data.yaml`` (None: no YAML)."""
    image_dir = root / "images" / split if split else root / "images"
    label_dir = root / "labels" / split if split else root / "labels"
    label_dir.mkdir(parents=True, exist_ok=True)
    for seed, (stem, text) in enumerate(labels.items()):
        width, height = (sizes or {}).get(stem, (64, 48))
        write_image(image_dir / f"{stem}.png", width, height, seed)
        (label_dir / f"{stem}.txt").write_text(text)
    if names is not None:
        data = {"val": f"images/{split}" if split else "images", "names": dict(enumerate(names))}
        (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root
