"""Decoded frames and the latest-frame slot a camera reader fills."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame of one camera."""

    camera: str
    image: Image  # BGR, height x width x 3
    index: int  # frames decoded by this reader since it started
    monotonic: float  # time.monotonic() when decoded
    wall_time: float  # time.time() when decoded
    stream_time: float | None  # the stream's own timestamp in seconds, when it has one

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.image.shape[1], self.image.shape[0]


@dataclass(frozen=True, slots=True)
class PendingFrame:
    """A decoded frame not yet converted to a numpy image (conversion happens on take)."""

    camera: str
    convert: Callable[[], Image]
    index: int
    monotonic: float
    wall_time: float
    stream_time: float | None

    def to_frame(self) -> Frame:
        """Convert (BGR numpy) in the caller's thread."""
        return Frame(
            self.camera,
            self.convert(),
            self.index,
            self.monotonic,
            self.wall_time,
            self.stream_time,
        )


class LatestFrame:
    """Holds only the newest frame: a reader never waits, older frames are dropped and counted.

    Frames are converted to numpy only when taken, so frames that are never analysed cost
    decode time alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: PendingFrame | None = None
        self._taken_index = -1
        self.dropped = 0

    def put(self, frame: PendingFrame) -> None:
        """Replace the held frame (never blocks for long)."""
        with self._lock:
            if self._pending is not None and self._pending.index > self._taken_index:
                self.dropped += 1
            self._pending = frame

    def take_newer(self, than_index: int) -> Frame | None:
        """The newest frame if it is newer than ``than_index``, else None."""
        with self._lock:
            pending = self._pending
            if pending is None or pending.index <= than_index:
                return None
            self._taken_index = pending.index
        return pending.to_frame()
