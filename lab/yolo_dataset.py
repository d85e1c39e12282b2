"""YOLO-format evaluation sets: the images of one split, their boxes and the class names.

Two ways in: a data YAML as ultralytics reads it (``path``, ``val``, ``names``; the ``val`` split is
loaded) or a folder with ``images/`` and ``labels/`` (optionally split, ``images/val``), whose class
names come from a ``data.yaml`` or ``classes.txt`` inside it. A label file holds one object a line,
``class cx cy w h`` normalised to 0..1 (a polygon ``class x1 y1 x2 y2 ...`` becomes its bounding
box); an image without a label file shows no object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from core.errors import SitewatchError
from detect.image_files import images_under

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]

YAML_SUFFIXES = (".yaml", ".yml")
SPLIT = "val"


class DatasetError(SitewatchError, ValueError):
    """A dataset that cannot be evaluated, naming the path and what is wrong."""


@dataclass(frozen=True, slots=True, eq=False)
class LabelledImage:
    """One image file and its objects: ``class_id`` (n,), ``cxcywh`` (n, 4) normalised 0..1."""

    image: Path
    class_id: IntArray
    cxcywh: FloatArray

    def xyxy(self, width: int, height: int) -> FloatArray:
        """The boxes in pixels of an image ``width`` x ``height``."""
        scale = np.array([width, height, width, height], np.float32)
        centre, size = self.cxcywh[:, :2], self.cxcywh[:, 2:]
        return np.concatenate([centre - size / 2, centre + size / 2], axis=1) * scale


@dataclass(frozen=True, slots=True)
class YoloDataset:
    """The images of one split with their objects, and the class names in id order."""

    source: Path
    class_names: tuple[str, ...]
    images: tuple[LabelledImage, ...]

    @property
    def instances(self) -> int:
        """Objects in all images."""
        return sum(len(item.class_id) for item in self.images)


def load_dataset(path: Path) -> YoloDataset:
    """The ``val`` split of a data YAML, or the images and labels of a folder."""
    if not path.exists():
        raise DatasetError(f"{path} does not exist")
    if path.is_file():
        if path.suffix.lower() not in YAML_SUFFIXES:
            raise DatasetError(f"{path} is neither a dataset folder nor a data YAML")
        return _from_yaml(path)
    return _from_folder(path)


def _from_yaml(path: Path) -> YoloDataset:
    config = _read_yaml(path)
    names = parse_names(config.get("names"), path)
    root = Path(str(config.get("path") or "."))
    if not root.is_absolute():
        root = path.parent / root
    split = config.get(SPLIT)
    if not split:
        raise DatasetError(f"{path} has no '{SPLIT}' split")
    folders = [root / str(entry) for entry in (split if isinstance(split, list) else [split])]
    files: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise DatasetError(f"{path}: the '{SPLIT}' folder {folder} does not exist")
        files.extend(_images_in(folder))
    return _labelled(path, files, names)


def _from_folder(folder: Path) -> YoloDataset:
    images = folder / "images"
    if not images.is_dir():
        for name in ("data.yaml", "data.yml"):
            if (folder / name).is_file():
                return _from_yaml(folder / name)
        raise DatasetError(
            f"{folder} has no images/ folder (expected images/ and labels/, or a data YAML)"
        )
    if not (folder / "labels").is_dir():
        raise DatasetError(f"{folder} has no labels/ folder next to images/")
    if (images / SPLIT).is_dir():
        images = images / SPLIT
    elif not any(item.is_file() for item in images.iterdir()):
        splits = sorted(item.name for item in images.iterdir() if item.is_dir())
        raise DatasetError(
            f"{images} holds no images and no '{SPLIT}' split (found: {', '.join(splits) or '-'})"
        )
    return _labelled(folder, _images_in(images), _folder_names(folder))


def _images_in(folder: Path) -> list[Path]:
    files = images_under(folder)
    if not files:
        raise DatasetError(f"{folder} holds no images (.jpg, .jpeg, .png, .bmp, .webp)")
    return files


def _folder_names(folder: Path) -> tuple[str, ...]:
    for name in ("data.yaml", "data.yml"):
        if (folder / name).is_file():
            return parse_names(_read_yaml(folder / name).get("names"), folder / name)
    classes = folder / "classes.txt"
    if classes.is_file():
        return parse_names([line.strip() for line in _read_text(classes).splitlines()], classes)
    raise DatasetError(
        f"{folder} does not name its classes: add a data.yaml with 'names' or a classes.txt "
        "(one name a line), or pass a data YAML"
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read: {error}") from error


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as error:
        raise DatasetError(f"{path}: invalid YAML: {error}") from error
    if not isinstance(config, dict):
        raise DatasetError(f"{path}: expected a mapping with 'val' and 'names'")
    return config


def parse_names(raw: Any, where: Path) -> tuple[str, ...]:
    """Class names from a ``names`` entry: a list, or a mapping of ids 0..n-1 to names."""
    if not raw:
        raise DatasetError(f"{where} has no class names ('names')")
    if isinstance(raw, dict):
        try:
            by_id = {int(key): str(value) for key, value in raw.items()}
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{where}: class ids in 'names' must be integers") from error
        if sorted(by_id) != list(range(len(by_id))):
            raise DatasetError(f"{where}: class ids in 'names' must be 0..{len(by_id) - 1}")
        names = tuple(by_id[index] for index in range(len(by_id)))
    elif isinstance(raw, list):
        names = tuple(str(name) for name in raw if str(name).strip())
    else:
        raise DatasetError(f"{where}: 'names' must be a list or a mapping of ids to names")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(f"{where}: class names repeated: {', '.join(repeated)}")
    return names


def label_path(image: Path) -> Path:
    """Where ultralytics looks for an image's labels: the last ``images`` folder in the path
    becomes ``labels`` and the suffix ``.txt``."""
    parts = image.parts
    for at in range(len(parts) - 2, -1, -1):
        if parts[at] == "images":
            return Path(*parts[:at], "labels", *parts[at + 1 :]).with_suffix(".txt")
    return image.with_suffix(".txt")


def _labelled(source: Path, files: Sequence[Path], names: tuple[str, ...]) -> YoloDataset:
    labels = [label_path(file) for file in files]
    if not any(label.is_file() for label in labels):
        raise DatasetError(
            f"{source}: none of the {len(files)} images has a label file "
            f"(looked for {labels[0]} and the like)"
        )
    items = (
        LabelledImage(file, *read_labels(label, len(names)))
        for file, label in zip(files, labels, strict=True)
    )
    return YoloDataset(source, names, tuple(items))


def read_labels(path: Path, class_count: int) -> tuple[IntArray, FloatArray]:
    """Class ids and normalised ``cxcywh`` boxes of a label file (none when it is absent)."""
    ids: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    text = _read_text(path) if path.is_file() else ""
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if not (len(fields) == 5 or (len(fields) >= 7 and len(fields) % 2 == 1)):
            raise DatasetError(
                f"{where}: expected 'class cx cy w h' (or a polygon 'class x1 y1 x2 y2 x3 y3 ...'),"
                f" got {line.strip()[:80]!r}"
            )
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise DatasetError(f"{where}: not a number in {line.strip()[:80]!r}") from None
        class_id, coordinates = values[0], np.array(values[1:], np.float64)
        if not class_id.is_integer() or not 0 <= class_id < class_count:
            raise DatasetError(
                f"{where}: class {fields[0]} is not one of the {class_count} classes "
                f"(0..{class_count - 1})"
            )
        if not (
            np.isfinite(coordinates).all() and 0 <= coordinates.min() <= coordinates.max() <= 1
        ):
            raise DatasetError(
                f"{where}: coordinates must be normalised to 0..1, got {line.strip()[:80]!r}"
            )
        ids.append(int(class_id))
        boxes.append(_as_cxcywh(coordinates))
    return np.array(ids, np.int32), np.array(boxes, np.float32).reshape(-1, 4)


def _as_cxcywh(coordinates: npt.NDArray[np.float64]) -> tuple[float, float, float, float]:
    if len(coordinates) == 4:
        cx, cy, w, h = (float(v) for v in coordinates)
        return cx, cy, w, h
    xs, ys = coordinates[0::2], coordinates[1::2]
    left, right, top, bottom = xs.min(), xs.max(), ys.min(), ys.max()
    return (
        float(left + right) / 2,
        float(top + bottom) / 2,
        float(right - left),
        float(bottom - top),
    )
