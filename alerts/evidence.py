"""Evidence files: written atomically, addressed by path, sealed by SHA-256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from alerts.model import Evidence


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync, rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def save_snapshot(
    data_dir: Path, alert_id: str, image: npt.NDArray[np.uint8], quality: int = 90
) -> Evidence:
    """Store a JPEG of ``image`` for an alert; the path in the result is relative to data_dir."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode snapshot of shape {image.shape}")
    data = encoded.tobytes()
    relative = Path("evidence") / alert_id / "snapshot.jpg"
    write_atomically(data_dir / relative, data)
    return Evidence(relative.as_posix(), hashlib.sha256(data).hexdigest())
