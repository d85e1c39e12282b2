"""Decoded frames and the latest-frame slot a camera reader fills."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

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


class _ConvertOnce:
    """A conversion done at most once, by whichever thread asks first (analysis or a peek)."""

    def __init__(self, convert: Callable[[], Image]) -> None:
        self._convert = convert
        self._lock = threading.Lock()
        self._image: Image | None = None

    def __call__(self) -> Image:
        with self._lock:
            if self._image is None:
                self._image = self._convert()
            return self._image


class LatestFrame:
    """Holds only the newest frame: a reader never waits, older frames are dropped and counted.

    Frames are converted to numpy only when taken, so frames that are never analysed cost
    decode time alone. ``lossless`` mode (offline replay) makes ``put`` wait until the previous
    frame was taken instead of dropping it.
    """

    def __init__(self, lossless: bool = False) -> None:
        self._cond = threading.Condition()
        self._pending: PendingFrame | None = None
        self._taken_index = -1
        self.lossless = lossless
        self.dropped = 0
        self.taken = 0
        self.last_age_s: float | None = None

    def put(self, frame: PendingFrame, stop: threading.Event | None = None) -> None:
        """Replace the held frame (in lossless mode, first wait until it was taken)."""
        with self._cond:
            if self.lossless:
                while self._unseen() and not (stop is not None and stop.is_set()):
                    self._cond.wait(0.1)
            if self._unseen():
                self.dropped += 1
            self._pending = replace(frame, convert=_ConvertOnce(frame.convert))
            self._cond.notify_all()

    def _unseen(self) -> bool:
        return self._pending is not None and self._pending.index > self._taken_index

    def take_newer(self, than_index: int, now: float | None = None) -> Frame | None:
        """The newest frame if it is newer than ``than_index``, else None."""
        pending = self.take_newer_pending(than_index, now)
        return None if pending is None else pending.to_frame()

    def take_newer_pending(self, than_index: int, now: float | None = None) -> PendingFrame | None:
        """Like ``take_newer`` but unconverted: the caller converts only the frames it keeps."""
        with self._cond:
            pending = self._pending
            if pending is None or pending.index <= than_index:
                return None
            self._taken_index = pending.index
            self.taken += 1
            if now is not None:
                self.last_age_s = now - pending.monotonic
            self._cond.notify_all()
        return pending

    def peek(self) -> Frame | None:
        """The newest frame without taking it (the API's latest-frame picture): analysis still
        gets it, and the conversion is shared."""
        with self._cond:
            pending = self._pending
        return None if pending is None else pending.to_frame()
