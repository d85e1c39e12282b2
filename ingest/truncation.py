"""Whether a local file ends before the length its container declares (a truncated copy).

A cut MP4 (moov atom at the front, the media data cut short) opens and plays up to the cut:
the demuxer just ends early, with a partial last packet. Only containers whose header states
the length are judged (MP4/MOV, Matroska); for others (MPEG-TS, raw streams) FFmpeg estimates
the length from the data itself, so a cut file looks whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEADER_DURATION_FORMATS = ("mov", "mp4", "matroska", "webm")
MIN_MISSING_S = 0.5  # shorter gaps at the end are rounding, not truncation
AV_TIME_BASE = 1_000_000


@dataclass(frozen=True, slots=True)
class Span:
    """Seconds on the stream's clock."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Length."""
        return self.end - self.start


def declared_span(container: Any, stream: Any) -> Span | None:
    """The start and end of ``stream`` as the container's header states them (None: the
    container does not state them, or its length is only an estimate)."""
    names = set(str(container.format.name).split(","))
    if not names & set(HEADER_DURATION_FORMATS):
        return None
    if stream.duration is not None and stream.time_base is not None:
        start = float((stream.start_time or 0) * stream.time_base)
        return Span(start, start + float(stream.duration * stream.time_base))
    if container.duration is not None:
        start = (container.start_time or 0) / AV_TIME_BASE
        return Span(start, start + container.duration / AV_TIME_BASE)
    return None


class ReadableEnd:
    """The furthest point one pass over a file reached: the end of its latest packet."""

    def __init__(self) -> None:
        self.end: float | None = None

    def add(self, packet: Any) -> None:
        """Account for one demuxed packet (an av.Packet)."""
        if packet.pts is None or packet.time_base is None or not packet.size:
            return
        end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        if self.end is None or end > self.end:
            self.end = end


def truncation(path: str, declared: Span | None, readable_end: float | None) -> str | None:
    """Words for a file that ended before its declared length (None: it did not)."""
    if declared is None or readable_end is None or declared.seconds <= 0:
        return None
    if declared.end - readable_end < MIN_MISSING_S:
        return None
    readable = max(0.0, readable_end - declared.start)
    return f"file {path} is truncated at {readable:.1f} s of {declared.seconds:.1f} s"
