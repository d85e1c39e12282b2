"""The console's live view: each viewer's cameras as one ``multipart/x-mixed-replace`` stream.

Each part is the newest decoded frame of one camera as a JPEG, scaled to the width the viewer
asked for, with an ``X-Overlay`` header carrying what the analysis saw (boxes with class and
score, the zones, each exit zone's blocked share), the camera's state and the frame's age as
JSON; the browser draws the overlay itself, so the server encodes only the picture. A camera
whose frame did not change sends an empty part once a second (its state and the frame's age
still move). For one camera the stream is plain MJPEG.

Costs only while watched: nothing is converted or encoded for a camera nobody watches, and a
frame is encoded once per size and quality for all its viewers (``SharedJpegs``). The pace is
the viewer's ``fps``; a viewer that reads slowly gets fewer frames, always the newest (the
server waits for the socket before taking the next frame), so its bandwidth is at most
``fps * cameras * JPEG size``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool

from ingest.frames import Frame
from ingest.status import CameraStatus
from sitewatch.live_results import LatestResults

BOUNDARY = "sitewatch-live"
MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
IDLE_PART_S = 1.0  # a camera without a new frame still says its state this often
MAX_CAMERAS = 32
FrameSource = Callable[[str], Frame | None]


@dataclass(frozen=True)
class LiveFeed:
    """Where the live view's pictures and results come from: the readers' newest frames (a
    peek, analysis still gets them) and the analysis's latest results."""

    frames: FrameSource
    results: LatestResults = field(default_factory=LatestResults)


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """What one viewer asked for."""

    cameras: tuple[str, ...]
    fps: float
    width: int
    quality: int


class SharedJpegs:
    """One JPEG per camera, frame, width and quality, encoded once for all its viewers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, int, int], tuple[int, bytes]] = {}
        self._busy: dict[tuple[str, int, int], threading.Lock] = {}
        self.encoded = 0
        self.shared = 0

    def get(self, frame: Frame, width: int, quality: int) -> bytes:
        """The frame as a JPEG at most ``width`` pixels wide."""
        key = (frame.camera, width, quality)
        with self._lock:
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:  # a second viewer of the same frame waits for the first one's encode
            with self._lock:
                found = self._latest.get(key)
                if found is not None and found[0] == frame.index:
                    self.shared += 1
                    return found[1]
            data = encode(frame.image, width, quality)
            with self._lock:
                self._latest[key] = (frame.index, data)
                self.encoded += 1
            return data


def encode(image: np.ndarray[Any, np.dtype[np.uint8]], width: int, quality: int) -> bytes:
    """A BGR image as a JPEG, scaled down (never up) to ``width``."""
    height, current = image.shape[:2]
    scaled = image
    if current > width:
        size = (width, max(1, round(height * width / current)))
        scaled = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    ok, data = cv2.imencode(".jpg", scaled, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the frame cannot be encoded as JPEG")
    return bytes(data.tobytes())


@dataclass
class LiveFigures:
    """Counters of the live view (for /metrics)."""

    viewers: int = 0
    parts: int = 0
    bytes_sent: int = 0


def part(jpeg: bytes, overlay: Mapping[str, Any]) -> bytes:
    """One part of the stream (headers in ASCII: the overlay's JSON escapes the rest)."""
    text = json.dumps(overlay, separators=(",", ":"), ensure_ascii=True)
    head = (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
        f"X-Camera: {overlay['camera']}\r\nX-Overlay: {text}\r\n\r\n"
    )
    return head.encode("ascii") + jpeg + b"\r\n"


def overlay_of(
    camera: str,
    frame: Frame | None,
    status: CameraStatus | None,
    feed: LiveFeed,
    jpeg_size: tuple[int, int] | None,
) -> dict[str, Any]:
    """What a part says besides its picture."""
    result = feed.results.get(camera)
    found: dict[str, Any] = {
        "camera": camera,
        "state": None if status is None else status.state.value,
        "error": None if status is None else status.last_error,
        "frame_index": None if frame is None else frame.index,
        "frame_time": None if frame is None else frame.wall_time,
        "frame_age_ms": None
        if frame is None
        else round((time.monotonic() - frame.monotonic) * 1000),
        "width": None if jpeg_size is None else jpeg_size[0],
        "height": None if jpeg_size is None else jpeg_size[1],
        "detections": [],
        "zones": [],
        "exits": [],
    }
    if result is not None:
        found.update(result.overlay())
    return found


async def live_parts(
    request: LiveRequest,
    feed: LiveFeed,
    statuses: Callable[[], Sequence[CameraStatus]],
    jpegs: SharedJpegs,
    figures: LiveFigures,
) -> AsyncIterator[bytes]:
    """The parts of one viewer's stream, paced at its ``fps``, until it goes away."""
    period = 1.0 / request.fps
    sent_index: dict[str, int | None] = dict.fromkeys(request.cameras)
    sent_at: dict[str, float] = dict.fromkeys(request.cameras, 0.0)
    figures.viewers += 1
    try:
        while True:
            started = time.monotonic()
            by_name = {s.camera: s for s in statuses()}
            for camera in request.cameras:
                frame = await run_in_threadpool(feed.frames, camera)
                fresh = frame is not None and frame.index != sent_index[camera]
                if not fresh and started - sent_at[camera] < IDLE_PART_S:
                    continue
                jpeg = b""
                size = None
                if fresh and frame is not None:
                    jpeg = await run_in_threadpool(jpegs.get, frame, request.width, request.quality)
                    height, width = frame.image.shape[:2]
                    scale = min(1.0, request.width / width)
                    size = (round(width * scale), round(height * scale))
                    sent_index[camera] = frame.index
                sent_at[camera] = started
                data = part(jpeg, overlay_of(camera, frame, by_name.get(camera), feed, size))
                figures.parts += 1
                figures.bytes_sent += len(data)
                yield data
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))
    finally:
        figures.viewers -= 1
