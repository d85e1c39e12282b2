"""Reference images of clear exits, one per camera, with the time they were captured."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Reference:
    """A stored picture of the camera view with its exits clear."""

    image: npt.NDArray[np.uint8]
    captured_at: float
    path: Path


class ReferenceStore:
    """PNG files under one directory: ``<camera>.png`` plus ``<camera>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self, camera: str) -> tuple[Path, float] | None:
        """(image path, capture time) of the stored reference without decoding it, or None."""
        path = self.directory / f"{camera}.png"
        if not path.is_file():
            return None
        return path, self._captured_at(path)

    def _captured_at(self, path: Path) -> float:
        meta_path = path.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        return float(meta.get("captured_at", path.stat().st_mtime))

    def load(self, camera: str) -> Reference | None:
        """The stored reference of ``camera``, or None."""
        path = self.directory / f"{camera}.png"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is None:
            return None
        return Reference(np.asarray(image, dtype=np.uint8), self._captured_at(path), path)

    def stamp(self, camera: str) -> float | None:
        """Modification time of the stored reference (to notice a replacement), or None."""
        try:
            return (self.directory / f"{camera}.png").stat().st_mtime
        except FileNotFoundError:
            return None

    def save(
        self, camera: str, image: npt.NDArray[np.uint8], captured_at: float | None = None
    ) -> Reference:
        """Store (or replace) the reference of ``camera``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{camera}.png"
        temporary = path.with_name(f".{path.name}.tmp.png")
        if not cv2.imwrite(str(temporary), image):
            raise OSError(f"cannot write reference image {path}")
        temporary.replace(path)
        when = time.time() if captured_at is None else captured_at
        path.with_suffix(".json").write_text(json.dumps({"captured_at": when}))
        return Reference(image, when, path)
