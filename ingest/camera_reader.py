"""One thread per camera: open the stream with PyAV, keep packets, decode, reconnect.

State machine: ``starting`` -> ``online`` on the first fresh frame; ``stalled`` when no fresh
frame arrived for ``stall_timeout_s`` (the watchdog's call) or the server accepts connections
but answers nothing (timeouts); ``offline`` when the connection fails or ends. A frame of a
network stream that arrives more than ``stall_timeout_s`` behind the stream's own clock (held up
by a hung server: ``ingest.freshness``) is stale: counted, never handed to analysis, and it does
not bring the camera online. A looping file starts again at its end without going offline; one
that ends before its declared length says so once (``ingest.truncation``) and loops what is
readable. The reader retries forever with capped exponential backoff and jitter.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import av

from core.errors import SitewatchError
from ingest.errors import describe_error
from ingest.frames import Image, LatestFrame, PendingFrame
from ingest.freshness import Lateness, StreamClock
from ingest.packet_ring import PacketRing, StoredPacket, StreamTemplate
from ingest.status import CameraState, CameraStatus
from ingest.truncation import ReadableEnd, declared_span, truncation
from ingest.url import redact_url

log = logging.getLogger(__name__)

StatusListener = Callable[[CameraStatus], None]
MAX_CONSECUTIVE_DECODE_ERRORS = 50
BITRATE_WINDOW_S = 5.0


class DecodePolicy(StrEnum):
    """Which frames to decode."""

    ALL = "all"
    KEYFRAMES = "keyframes"  # skip_frame=NONKEY: a fraction of the CPU, for slow checks
    NONE = "none"  # packets only (a recording stream)


class Pacing(StrEnum):
    """How local files are read."""

    REALTIME = "realtime"  # at the file's frame rate, like a camera
    FAST = "fast"  # as fast as analysis takes frames, none dropped (offline replay)


@dataclass(frozen=True)
class ReaderSettings:
    """How one camera is read."""

    name: str
    url: str
    transport: str = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    stall_timeout_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    decode: DecodePolicy = DecodePolicy.ALL
    # One decoder thread per camera: cameras already decode in parallel, and FFmpeg's frame
    # threads cost CPU in synchronisation and add a frame of delay per thread (0: FFmpeg picks).
    decode_threads: int = 1
    max_width: int | None = None  # downscale decoded frames wider than this (aspect kept)
    buffer_seconds: float = 0.0  # packet ring for pre-roll clips; 0 keeps none
    buffer_max_bytes: int = 64 * 1024 * 1024
    pacing: Pacing = Pacing.REALTIME
    loop: bool = True  # local files start again at their end

    @property
    def is_file(self) -> bool:
        """A local file rather than a network stream."""
        return self.url.startswith("file://") or "://" not in self.url


class FileEndedError(SitewatchError):
    """A local file ended and looping is off."""


class _Counters:
    """Counters guarded by the reader's lock."""

    def __init__(self) -> None:
        self.frames = 0
        self.reconnects = 0
        self.decode_errors = 0
        self.stale = 0  # frames (or packets) that arrived too late to be a live picture
        self.decode_seconds = 0.0
        self.last_frame_at = time.monotonic()
        self.recent_bytes: collections.deque[tuple[float, int]] = collections.deque()
        self.recent_frames: collections.deque[float] = collections.deque()

    def bitrate_kbps(self, now: float) -> float:
        while self.recent_bytes and now - self.recent_bytes[0][0] > BITRATE_WINDOW_S:
            self.recent_bytes.popleft()
        total = sum(size for _, size in self.recent_bytes)
        return total * 8 / 1000 / BITRATE_WINDOW_S

    def fps(self, now: float) -> float:
        """Frames decoded per second over the last few seconds."""
        while self.recent_frames and now - self.recent_frames[0] > BITRATE_WINDOW_S:
            self.recent_frames.popleft()
        return len(self.recent_frames) / BITRATE_WINDOW_S


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
        self.latest = LatestFrame(lossless=settings.pacing is Pacing.FAST and settings.is_file)
        self.ring = (
            PacketRing(settings.buffer_seconds, settings.buffer_max_bytes)
            if (settings.buffer_seconds > 0)
            else None
        )
        self.finished = threading.Event()  # a non-looping file reached its end
        self._stop_event = stop
        self._on_status = on_status
        self._lock = threading.Lock()
        self._status = CameraStatus(settings.name, CameraState.STARTING, time.time())
        self._counters = _Counters()
        self._clock: StreamClock | None = None  # per connection, network streams only
        self._late_run = 0  # stale frames since the last fresh one

    # --- status -------------------------------------------------------------------------------

    @property
    def status(self) -> CameraStatus:
        """The current health and counters of this camera."""
        now = time.monotonic()
        with self._lock:
            c = self._counters
            age = self.latest.last_age_s
            return replace(
                self._status,
                frames=c.frames,
                frames_out=self.latest.taken,
                dropped=self.latest.dropped,
                reconnects=c.reconnects,
                decode_errors=c.decode_errors,
                stale_frames=c.stale,
                decode_ms=round(1000 * c.decode_seconds / c.frames, 2) if c.frames else 0.0,
                bitrate_kbps=round(c.bitrate_kbps(now), 1),
                fps=round(c.fps(now), 1),
                frame_age_ms=None if age is None else round(age * 1000, 1),
            )

    def check_stall(self, now: float) -> None:
        """Watchdog hook: an online camera with no frame for stall_timeout_s is stalled."""
        with self._lock:
            online = self._status.state is CameraState.ONLINE
            silent_for = now - self._counters.last_frame_at
        if online and silent_for >= self.settings.stall_timeout_s:
            self._set_state(CameraState.STALLED, f"no frame for {silent_for:.0f} s")

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, read, and reconnect with capped exponential backoff and jitter."""
        failures = 0
        while not self._stop_event.is_set():
            state, error_text = CameraState.OFFLINE, "end of stream"
            try:
                delivered = self._read_once()
                failures = 0 if delivered else failures + 1
                if delivered and self.settings.is_file and not self._stop_event.is_set():
                    self._count_reconnect()  # the next pass of a looping file: no outage
                    continue
            except FileEndedError:
                self._set_state(CameraState.OFFLINE, "end of file")
                self.finished.set()
                return
            except (av.error.FFmpegError, OSError, ValueError) as error:
                failures += 1
                error_text = describe_error(error)
                if isinstance(error, (TimeoutError, av.error.ExitError)):
                    state = CameraState.STALLED  # reachable but silent (e.g. a hung server)
            if self._stop_event.is_set():
                break
            self._set_state(state, error_text)
            self._stop_event.wait(self._backoff(failures))
            self._count_reconnect()
        self.finished.set()

    def _count_reconnect(self) -> None:
        with self._lock:
            self._counters.reconnects += 1

    def _backoff(self, failures: int) -> float:
        if failures == 0:
            return 0.2 if not self.settings.is_file else 0.0
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_initial_s * 2.0 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)

    def _open(self) -> Any:
        s = self.settings
        if s.is_file:
            return av.open(s.url.removeprefix("file://"))
        options = {"rtsp_transport": s.transport} if s.url.startswith("rtsp") else {}
        log.info("camera %s: connecting to %s", s.name, redact_url(s.url))
        return av.open(s.url, options=options, timeout=(s.open_timeout_s, s.read_timeout_s))

    def _read_once(self) -> int:
        """Read until the stream ends or stop; returns the number of frames delivered."""
        s = self.settings
        container = self._open()
        try:
            if not container.streams.video:
                raise ValueError("no video track")
            stream = container.streams.video[0]
            stream.codec_context.thread_count = self.settings.decode_threads
            if self.settings.decode is DecodePolicy.KEYFRAMES:
                stream.codec_context.skip_frame = "NONKEY"
            with self._lock:
                self._status = replace(self._status, codec=stream.codec_context.name)
            if self.ring is not None:
                self.ring.reset(None)
            self._clock = None if self.settings.is_file else StreamClock(s.stall_timeout_s)
            self._late_run = 0
            readable = ReadableEnd()
            delivered = self._pump(container, stream, readable)
            if s.is_file and not self._stop_event.is_set():
                path = s.url.removeprefix("file://")
                self._note_truncation(
                    truncation(path, declared_span(container, stream), readable.end)
                )
        finally:
            container.close()
        if s.is_file and not s.loop and not self._stop_event.is_set():
            raise FileEndedError
        return delivered

    def _note_truncation(self, words: str | None) -> None:
        """Say once (and keep in the status) that the file ends before its declared length."""
        if words is not None:
            words += "; looping what is readable" if self.settings.loop else "; it ends there"
        with self._lock:
            changed = self._status.warning != words
            self._status = replace(self._status, warning=words)
        if changed and words is not None:
            log.warning("camera %s: %s", self.settings.name, words)
        if changed and self._on_status is not None:
            self._on_status(self.status)

    def _pump(self, container: Any, stream: Any, readable: ReadableEnd) -> int:
        delivered = 0
        consecutive_errors = 0
        pace = _FilePacer(stream, self._stop_event) if self._paced else None
        template_missing = self.ring is not None
        for packet in container.demux(stream):
            if self._stop_event.is_set():
                break
            if packet.size:  # an empty packet flushes the decoder at the end
                self._count_bytes(packet.size)
                readable.add(packet)
            if self.ring is not None and packet.pts is not None and packet.size:
                if template_missing and packet.is_keyframe:
                    self.ring.reset(StreamTemplate.capture(stream, packet))
                    template_missing = False
                self.ring.add(_stored(packet))
            if self.settings.decode is DecodePolicy.NONE:
                if packet.size:
                    time_s = None if packet.pts is None else float(packet.pts * packet.time_base)
                    delivered += self._mark_alive_without_frames(time_s)
                continue
            started = time.perf_counter()
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                consecutive_errors += 1
                with self._lock:
                    self._counters.decode_errors += 1
                if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise
                continue
            consecutive_errors = 0
            spent = time.perf_counter() - started
            for video_frame in frames:
                delivered += self._deliver(video_frame, spent / max(len(frames), 1))
                if pace is not None:
                    pace.wait_for(video_frame)
        return delivered

    @property
    def _paced(self) -> bool:
        return self.settings.is_file and self.settings.pacing is Pacing.REALTIME

    def _count_bytes(self, size: int) -> None:
        with self._lock:
            self._counters.recent_bytes.append((time.monotonic(), size))

    def _mark_alive_without_frames(self, stream_time: float | None) -> int:
        """A packets-only reader is online as long as fresh packets flow; returns 1 for a
        fresh packet, 0 for a stale one."""
        now = time.monotonic()
        if not self._fresh(now, stream_time):
            return 0
        with self._lock:
            self._counters.last_frame_at = now
            starting = self._status.state is not CameraState.ONLINE
        if starting:
            self._set_state(CameraState.ONLINE, None)
        return 1

    def _fresh(self, arrival: float, stream_time: float | None) -> bool:
        """Whether what arrived now is a live picture (stale ones are counted and logged)."""
        if self._clock is None:
            return True
        lateness = self._clock.check(arrival, stream_time)
        if lateness.stale:
            self._count_stale(lateness)
            return False
        if lateness.reanchored:
            log.warning(
                "camera %s: the stream flows again, %.1f s behind its own clock; taking that "
                "as its delay from now on",
                self.settings.name,
                lateness.lag_s,
            )
        elif self._late_run:
            log.info(
                "camera %s: frames on time again (%d stale frame(s) not used)",
                self.settings.name,
                self._late_run,
            )
        self._late_run = 0
        return True

    def _count_stale(self, lateness: Lateness) -> None:
        with self._lock:
            self._counters.stale += 1
        if self._late_run == 0:
            log.warning(
                "camera %s: a frame arrived %.1f s behind the stream's clock (held up by a hung "
                "or overloaded camera or server); stale frames are not used",
                self.settings.name,
                lateness.lag_s,
            )
        self._late_run += 1

    def _deliver(self, video_frame: Any, decode_seconds: float) -> int:
        """Hand a decoded frame to analysis; returns 1, or 0 for a stale frame (dropped)."""
        now_mono, now_wall = time.monotonic(), time.time()
        stream_time = float(video_frame.time) if video_frame.time is not None else None
        if not self._fresh(now_mono, stream_time):
            return 0
        width, height = _target_size(video_frame.width, video_frame.height, self.settings.max_width)

        def convert() -> Image:
            image: Image = video_frame.to_ndarray(format="bgr24", width=width, height=height)
            return image

        with self._lock:
            c = self._counters
            index = c.frames
            c.frames += 1
            c.decode_seconds += decode_seconds
            c.last_frame_at = now_mono
            c.recent_frames.append(now_mono)
            status = self._status
        self.latest.put(
            PendingFrame(self.settings.name, convert, index, now_mono, now_wall, stream_time),
            self._stop_event,
        )
        size = (video_frame.width, video_frame.height)
        if status.state is not CameraState.ONLINE:
            self._set_state(CameraState.ONLINE, None, size=size)
        elif (status.width, status.height) != size:
            log.info(
                "camera %s: resolution changed from %sx%s to %dx%d",
                self.settings.name,
                status.width,
                status.height,
                *size,
            )
            self._set_state(CameraState.ONLINE, None, size=size)
        return 1

    def _set_state(
        self, state: CameraState, error: str | None, *, size: tuple[int, int] | None = None
    ) -> None:
        with self._lock:
            previous = self._status
            self._status = replace(
                previous,
                state=state,
                since=time.time() if previous.state is not state else previous.since,
                last_error=error,
                width=size[0] if size else previous.width,
                height=size[1] if size else previous.height,
            )
            changed = self._status != previous
        if not changed:
            return
        current = self.status
        if state is CameraState.ONLINE:
            log.info(
                "camera %s: online (%s %sx%s)",
                self.settings.name,
                current.codec,
                current.width,
                current.height,
            )
        else:
            log.warning("camera %s: %s (%s)", self.settings.name, state.value, error)
        if self._on_status is not None:
            self._on_status(current)


class _FilePacer:
    """Sleeps so that a local file plays at its own frame rate."""

    def __init__(self, stream: Any, stop: threading.Event) -> None:
        self._stop = stop
        self._started = time.monotonic()
        self._first: float | None = None

    def wait_for(self, frame: Any) -> None:
        if frame.time is None:
            return
        if self._first is None:
            self._first = float(frame.time)
        delay = self._started + float(frame.time) - self._first - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)


def _stored(packet: Any) -> StoredPacket:
    return StoredPacket(
        bytes(packet),
        int(packet.pts),
        None if packet.dts is None else int(packet.dts),
        packet.time_base,
        bool(packet.is_keyframe),
        time.time(),
    )


def _target_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """Frame size after downscaling to ``max_width`` (even numbers, aspect kept)."""
    if max_width is None or width <= max_width:
        return width, height
    scaled_height = max(2, round(height * max_width / width / 2) * 2)
    return max_width - max_width % 2, scaled_height


class Watchdog(threading.Thread):
    """Checks every reader for stalls twice a second."""

    def __init__(self, readers: list[CameraReader], stop: threading.Event) -> None:
        super().__init__(name="camera-watchdog", daemon=True)
        self._readers = readers
        self._stop_event = stop

    def run(self) -> None:
        """Loop until stop."""
        while not self._stop_event.wait(0.5):
            now = time.monotonic()
            for reader in self._readers:
                reader.check_stall(now)
