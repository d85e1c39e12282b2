"""Finding and reading still images on disk (datasets, `sitewatch detect`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})

Image = npt.NDArray[np.uint8]


def is_image_name(path: Path) -> bool:
    """Whether the file name has one of the image suffixes (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def images_under(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Image files anywhere below ``folder``, sorted; nothing below ``exclude``."""
    skip = exclude.resolve() if exclude is not None else None
    found = []
    for path in folder.rglob("*"):
        if not (path.is_file() and is_image_name(path)):
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        found.append(path)
    return sorted(found)


def collect_images(paths: Iterable[Path], exclude: Path | None = None) -> list[Path]:
    """Files named directly (whatever their suffix) and the images inside named folders, in the
    order given, each once; FileNotFoundError for a path that does not exist."""
    seen: set[Path] = set()
    collected: list[Path] = []
    for path in paths:
        if path.is_dir():
            members = images_under(path, exclude)
        elif path.is_file():
            members = [path]
        else:
            raise FileNotFoundError(f"{path} does not exist")
        for member in members:
            key = member.resolve()
            if key not in seen:
                seen.add(key)
                collected.append(member)
    return collected


def read_image(path: Path) -> Image | None:
    """An image file as 3-channel BGR, or None when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    return np.asarray(image, np.uint8)
