"""One thread per camera: open the stream with PyAV, decode, keep the newest frame, reconnect."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import av

from ingest.errors import describe_error
from ingest.frames import Image, LatestFrame, PendingFrame
from ingest.status import CameraState, CameraStatus
from ingest.url import redact_url

log = logging.getLogger(__name__)

StatusListener = Callable[[CameraStatus], None]


@dataclass(frozen=True)
class ReaderSettings:
    """How one camera is read."""

    name: str
    url: str
    transport: str = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 3.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    realtime_files: bool = True  # pace local files at their frame rate


class CameraReader(threading.Thread):
    """Reads one camera until ``stop`` is set; never raises out of ``run``."""

    def __init__(
        self,
        settings: ReaderSettings,
        stop: threading.Event,
        on_status: StatusListener | None = None,
    ) -> None:
        super().__init__(name=f"camera-{settings.name}", daemon=True)
        self.settings = settings
        self.latest = LatestFrame()
        self._stop_event = stop
        self._on_status = on_status
        self._lock = threading.Lock()
        self._status = CameraStatus(settings.name, CameraState.STARTING, time.time())
        self._frames = 0

    @property
    def status(self) -> CameraStatus:
        """The current health of this camera."""
        with self._lock:
            return replace(self._status, frames=self._frames, dropped=self.latest.dropped)

    def run(self) -> None:
        """Connect, decode, and reconnect with capped exponential backoff and jitter."""
        failures = 0
        while not self._stop_event.is_set():
            try:
                delivered = self._read_once()
                failures = 0 if delivered else failures + 1
                error_text = "end of stream"
            except (av.error.FFmpegError, OSError, ValueError) as error:
                failures += 1
                error_text = describe_error(error)
            if self._stop_event.is_set():
                break
            self._set_state(CameraState.OFFLINE, error_text)
            delay = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2**failures)
            self._stop_event.wait(delay * random.uniform(0.5, 1.0) if failures else 0.2)
            with self._lock:
                self._status = replace(self._status, reconnects=self._status.reconnects + 1)

    def _read_once(self) -> int:
        """Read until the stream ends or stop; returns the number of frames delivered."""
        container = self._open()
        delivered = 0
        try:
            stream = container.streams.video[0] if container.streams.video else None
            if stream is None:
                raise ValueError("no video track")
            stream.thread_type = "AUTO"
            pace = self._file_pacer(stream) if self._is_file else None
            for packet in container.demux(stream):
                if self._stop_event.is_set():
                    break
                for video_frame in packet.decode():
                    self._deliver(video_frame)
                    delivered += 1
                    if pace is not None:
                        pace(video_frame)
        finally:
            container.close()
        return delivered

    @property
    def _is_file(self) -> bool:
        return self.settings.url.startswith("file://") or "://" not in self.settings.url

    def _open(self) -> Any:
        url = self.settings.url
        if self._is_file:
            return av.open(url.removeprefix("file://"))
        options = {"rtsp_transport": self.settings.transport} if url.startswith("rtsp") else {}
        log.info("camera %s: connecting to %s", self.settings.name, redact_url(url))
        return av.open(
            url,
            options=options,
            timeout=(self.settings.open_timeout_s, self.settings.read_timeout_s),
        )

    def _deliver(self, video_frame: Any) -> None:
        now_mono, now_wall = time.monotonic(), time.time()
        stream_time = float(video_frame.time) if video_frame.time is not None else None

        def convert() -> Image:
            image: Image = video_frame.to_ndarray(format="bgr24")
            return image

        with self._lock:
            index = self._frames
            self._frames += 1
            first = self._status.state is not CameraState.ONLINE
        self.latest.put(
            PendingFrame(self.settings.name, convert, index, now_mono, now_wall, stream_time)
        )
        if first:
            self._set_state(
                CameraState.ONLINE, None, width=video_frame.width, height=video_frame.height
            )

    def _file_pacer(self, stream: Any) -> Callable[[Any], None]:
        rate = stream.average_rate or Fraction(25)
        started = time.monotonic()
        count = 0

        def pace(_frame: Any) -> None:
            nonlocal count
            count += 1
            if self.settings.realtime_files:
                delay = started + count / float(rate) - time.monotonic()
                if delay > 0:
                    self._stop_event.wait(delay)

        return pace

    def _set_state(
        self,
        state: CameraState,
        error: str | None,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        with self._lock:
            previous = self._status
            changed = previous.state is not state or previous.last_error != error
            self._status = replace(
                previous,
                state=state,
                since=time.time() if previous.state is not state else previous.since,
                last_error=error,
                width=width if width is not None else previous.width,
                height=height if height is not None else previous.height,
            )
            current = replace(self._status, frames=self._frames)
        if not changed:
            return
        if state is CameraState.ONLINE:
            log.info("camera %s: online (%sx%s)", self.settings.name, width, height)
        else:
            log.warning("camera %s: %s (%s)", self.settings.name, state.value, error)
        if self._on_status is not None:
            self._on_status(current)
