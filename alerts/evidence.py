"""Evidence files: written atomically, addressed by path, sealed by SHA-256."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from alerts.model import Evidence, EvidenceKind
from detect.observations import Box

Image = npt.NDArray[np.uint8]
ZONE_COLOUR = (0, 200, 255)  # amber (BGR)
BOX_COLOUR = (40, 40, 230)  # red


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync, rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        temporary.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise
    temporary.replace(path)


def encode_jpeg(image: Image, quality: int = 90) -> bytes:
    """``image`` as JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode snapshot of shape {image.shape}")
    return bytes(encoded.tobytes())


def jpeg_evidence(alert_id: str, kind: EvidenceKind, data: bytes) -> Evidence:
    """The record of JPEG ``data`` stored as ``evidence/<alert_id>/<kind>.jpg``."""
    relative = Path("evidence") / alert_id / f"{kind.value.replace('_', '-')}.jpg"
    return Evidence(relative.as_posix(), hashlib.sha256(data).hexdigest(), kind)


def save_jpeg(
    data_dir: Path, alert_id: str, kind: EvidenceKind, image: Image, quality: int = 90
) -> Evidence:
    """Store ``image`` as ``evidence/<alert_id>/<kind>.jpg``; the path is relative to data_dir."""
    data = encode_jpeg(image, quality)
    item = jpeg_evidence(alert_id, kind, data)
    write_atomically(data_dir / item.path, data)
    return item


def line_style(width: int) -> tuple[int, float]:
    """Line thickness (px) and font scale for drawing on an image ``width`` pixels wide."""
    return max(2, width // 400), max(0.5, width / 1600)


def draw_boxes(canvas: Image, boxes: Sequence[Box]) -> None:
    """Draw each box with its label and score onto ``canvas`` (in place)."""
    thickness, scale = line_style(canvas.shape[1])
    for box in boxes:
        top_left = (int(box.x1), int(box.y1))
        cv2.rectangle(canvas, top_left, (int(box.x2), int(box.y2)), BOX_COLOUR, thickness)
        label = f"{box.label} {box.score:.0%}"
        cv2.putText(
            canvas, label, (top_left[0], max(12, top_left[1] - 6)),
            cv2.FONT_HERSHEY_SIMPLEX, scale, BOX_COLOUR, thickness, cv2.LINE_AA,
        )  # fmt: skip


def annotate(
    image: Image, outline: Sequence[tuple[int, int]], boxes: Sequence[Box], caption: str
) -> Image:
    """A copy of ``image`` with the zone outlined, the boxes drawn and a caption banner."""
    out = image.copy()
    height, width = out.shape[:2]
    thickness, scale = line_style(width)
    if len(outline) >= 3:
        points = np.asarray(outline, dtype=np.int32)
        overlay = out.copy()
        cv2.fillPoly(overlay, [points], ZONE_COLOUR)
        cv2.addWeighted(overlay, 0.25, out, 0.75, 0, dst=out)
        cv2.polylines(out, [points], True, ZONE_COLOUR, thickness, cv2.LINE_AA)
    draw_boxes(out, boxes)
    banner = max(24, int(36 * scale))
    cv2.rectangle(out, (0, height - banner), (width, height), (0, 0, 0), -1)
    cv2.putText(
        out, caption, (10, height - banner // 3),
        cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, thickness - 1), cv2.LINE_AA,
    )  # fmt: skip
    return out
