"""The last N seconds of a camera's compressed packets, always starting at a keyframe.

The clip recorder turns a snapshot of the ring into a clip's pre-roll without re-encoding
(``alerts.clip_writer``). Memory is bounded by seconds and by bytes; whole GOPs leave from the
front.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av


@dataclass(frozen=True, slots=True)
class StoredPacket:
    """One compressed packet with the timing needed to remux it."""

    data: bytes
    pts: int
    dts: int | None
    time_base: Fraction
    keyframe: bool
    wall_time: float  # time.time() when it arrived

    @property
    def seconds(self) -> float:
        """Presentation time in the stream's clock."""
        return float(self.pts * self.time_base)


@dataclass(frozen=True)
class StreamTemplate:
    """The codec parameters of one connection, kept as a tiny Matroska file (header + one
    keyframe) because PyAV can only copy codec parameters from a stream of an open container."""

    codec: str
    width: int
    height: int
    container_bytes: bytes

    @classmethod
    def capture(cls, stream: Any, first_keyframe: Any) -> StreamTemplate:
        """Record ``stream``'s parameters, using ``first_keyframe`` (an av.Packet) as payload."""
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="matroska") as out:
            copy = out.add_stream_from_template(stream)
            packet = av.Packet(bytes(first_keyframe))
            packet.stream = copy
            packet.time_base = first_keyframe.time_base
            packet.pts = first_keyframe.pts
            packet.dts = first_keyframe.dts
            packet.is_keyframe = True
            out.mux(packet)
        context = stream.codec_context
        return cls(context.name, context.width, context.height, buffer.getvalue())


@dataclass(frozen=True)
class RingSnapshot:
    """Packets of one connection, from a keyframe on, with the template to remux them."""

    template: StreamTemplate
    packets: tuple[StoredPacket, ...]

    @property
    def seconds(self) -> float:
        """Span from the first to the last packet."""
        if len(self.packets) < 2:
            return 0.0
        return self.packets[-1].seconds - self.packets[0].seconds

    @property
    def size(self) -> int:
        """Bytes of packet data."""
        return sum(len(p.data) for p in self.packets)


PacketListener = Callable[[StoredPacket, StreamTemplate], None]


class PacketRing:
    """Thread-safe GOP-aligned ring: holds at least ``seconds`` when it can, never more than
    ``max_bytes`` (the oldest GOPs go first)."""

    def __init__(self, seconds: float = 10.0, max_bytes: int = 64 * 1024 * 1024) -> None:
        if seconds <= 0 or max_bytes <= 0:
            raise ValueError("ring buffer needs positive seconds and bytes")
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._gops: deque[list[StoredPacket]] = deque()
        self._bytes = 0
        self._template: StreamTemplate | None = None
        self._listeners: list[PacketListener] = []

    def subscribe(self, listener: PacketListener) -> tuple[RingSnapshot | None, Callable[[], None]]:
        """What the ring holds now, and from then on every new packet passed to ``listener``
        (in the reader's thread: it must not block) — each packet exactly once between the two.
        Returns the snapshot and the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)
            snapshot = self._snapshot_locked()

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return snapshot, unsubscribe

    def reset(self, template: StreamTemplate | None) -> None:
        """Start over for a new connection (codec parameters may have changed)."""
        with self._lock:
            self._gops.clear()
            self._bytes = 0
            self._template = template

    def add(self, packet: StoredPacket) -> None:
        """Append; a packet before the first keyframe is ignored."""
        with self._lock:
            if packet.keyframe:
                self._gops.append([])
            elif not self._gops:
                return
            self._gops[-1].append(packet)
            self._bytes += len(packet.data)
            self._trim(packet.seconds)
            template, listeners = self._template, list(self._listeners)
        if template is not None:
            for listener in listeners:
                listener(packet, template)

    def _trim(self, newest: float) -> None:
        while len(self._gops) > 1:
            second_start = self._gops[1][0].seconds
            too_long = newest - second_start >= self.seconds
            if not (too_long or self._bytes > self.max_bytes):
                break
            dropped = self._gops.popleft()
            self._bytes -= sum(len(p.data) for p in dropped)
        if len(self._gops) == 1 and self._bytes > self.max_bytes:
            self._gops.clear()  # one GOP over the byte budget: keep nothing rather than grow
            self._bytes = 0

    @property
    def bytes(self) -> int:
        """Bytes held."""
        with self._lock:
            return self._bytes

    def snapshot(self) -> RingSnapshot | None:
        """A copy of what is held, or None before the first keyframe of a connection."""
        with self._lock:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> RingSnapshot | None:
        if self._template is None or not self._gops:
            return None
        return RingSnapshot(self._template, tuple(p for gop in self._gops for p in gop))
