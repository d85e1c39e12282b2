"""Writes one evidence clip: remuxed H.264 when the camera sends it, else re-encoded to H.264.

While recording, the clip is a *fragmented* MP4 (``.clip.mp4.<first frame ms>.partial``: a
fragment at every keyframe and at least every second, each flushed to the file), so a process
killed mid-clip leaves a file that plays up to its last fragment. ``close`` remuxes it into the
final MP4 with ``+faststart`` (H.264 in MP4, what browsers play while downloading); a partial left
behind by a crash is finished the same way at the next start (``alerts.clip_recovery``).
H.265 and MJPEG cameras are transcoded with libx264 (veryfast) so that every clip plays in the
console.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ingest.packet_ring import StoredPacket, StreamTemplate

log = logging.getLogger(__name__)
BROWSER_CODECS = frozenset({"h264"})
CLOCK = Fraction(1, 90_000)
# A fragment at each keyframe and at least every second, written through at once.
FRAGMENTED = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",
    "flush_packets": "1",
}
PARTIAL_NAME = re.compile(
    r"^\.(?P<name>clip(?:-(?P<part>[1-9][0-9]*))?\.mp4)\.(?P<ms>[0-9]+)\.partial$"
)


START_CODE = re.compile(b"\x00\x00\x01")


def length_prefixed(data: bytes, length_size: int) -> bytes:
    """An Annex B access unit (start codes, as RTSP delivers H.264) with each NAL unit prefixed
    by its length instead, as MP4 (``avcC``) stores it; other data unchanged."""
    if not data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        return data
    if _walks_as_length_prefixed(data, length_size):  # a length that looks like a start code
        return data
    starts = [m.end() for m in START_CODE.finditer(data)]
    out = bytearray()
    for index, start in enumerate(starts):
        end = starts[index + 1] - 3 if index + 1 < len(starts) else len(data)
        unit = data[start:end].rstrip(b"\x00")  # a 4-byte start code's zero, trailing zeros
        if unit:
            out += len(unit).to_bytes(length_size, "big") + unit
    return bytes(out)


def _walks_as_length_prefixed(data: bytes, length_size: int) -> bool:
    position = 0
    while position + length_size <= len(data):
        length = int.from_bytes(data[position : position + length_size], "big")
        if length == 0:
            return False
        position += length_size + length
    return position == len(data)


def partial_path(path: Path, first_wall: float) -> Path:
    """Where the clip ``path`` is recorded: its first frame's wall time (ms) in the name."""
    return path.with_name(f".{path.name}.{round(first_wall * 1000)}.partial")


@dataclass(frozen=True, slots=True)
class PartialClip:
    """A clip recording found on disk: which alert, which part, when its first frame was."""

    path: Path
    alert_id: str
    part: int
    final_name: str
    first_wall: float


def parse_partial(path: Path) -> PartialClip | None:
    """The recording ``path`` names (``evidence/<alert_id>/.clip-2.mp4.<ms>.partial``)."""
    match = PARTIAL_NAME.match(path.name)
    if match is None:
        return None
    part = int(match["part"] or 1)
    first_wall = int(match["ms"]) / 1000
    return PartialClip(path, path.parent.name, part, match["name"], first_wall)


@dataclass(frozen=True, slots=True)
class Remuxed:
    """What a remux copied."""

    packets: int
    seconds: float
    sha256: str


def remux_to_mp4(source: Path, target: Path) -> Remuxed:
    """Copy the video packets of ``source`` (a fragmented MP4, possibly cut short) into
    ``target`` as an MP4 with ``+faststart``, up to the first damaged packet; written via a
    temporary file, fsynced and renamed. Raises ValueError when nothing is readable."""
    temporary = target.with_name(f".{target.name}.tmp")
    packets = 0
    first: int | None = None
    last = 0
    try:
        with av.open(str(source), "r") as inp:
            if not inp.streams.video:
                raise ValueError(f"{source.name} holds no video")
            in_stream = inp.streams.video[0]
            with av.open(
                str(temporary), "w", format="mp4", options={"movflags": "+faststart"}
            ) as out:
                out_stream = out.add_stream_from_template(in_stream)
                try:
                    for packet in inp.demux(in_stream):
                        if packet.dts is None or packet.size == 0:
                            continue
                        if packet.is_corrupt:  # the fragment the crash cut short
                            break
                        if packets == 0 and not packet.is_keyframe:
                            continue
                        pts = packet.pts if packet.pts is not None else packet.dts
                        first = pts if first is None else min(first, pts)
                        last = max(last, pts + (packet.duration or 0))
                        packet.stream = out_stream
                        out.mux(packet)
                        packets += 1
                except av.error.FFmpegError as error:  # damaged tail: keep what came before
                    log.warning("%s: stopped reading at a damaged fragment: %s", source, error)
                if packets == 0:
                    raise ValueError(f"{source.name} holds no complete frame")
                time_base = in_stream.time_base or Fraction(1, 90_000)
                seconds = float((last - (first or 0)) * time_base)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256()
    with temporary.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
        os.fsync(handle.fileno())
    temporary.replace(target)
    return Remuxed(packets, seconds, digest.hexdigest())


class ClipWriter:
    """Appends packets to an MP4 starting at a keyframe; ``close`` returns the SHA-256."""

    def __init__(
        self, path: Path, template: StreamTemplate, first_wall: float | None = None
    ) -> None:
        self.path = path
        self.template = template
        self.transcoding = template.codec not in BROWSER_CODECS
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = partial_path(path, time.time() if first_wall is None else first_wall)
        self._source = av.open(io.BytesIO(template.container_bytes), "r")
        source_stream = self._source.streams.video[0]
        self._out = av.open(str(self.partial), "w", format="mp4", options=FRAGMENTED)
        self._decoder: Any = None
        if self.transcoding:
            self._decoder = source_stream.codec_context
            self._stream = self._out.add_stream("libx264", rate=25)
            self._stream.width = template.width - template.width % 2
            self._stream.height = template.height - template.height % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.codec_context.time_base = CLOCK
            self._stream.options = {"preset": "veryfast", "crf": "23"}
        else:
            self._stream = self._out.add_stream_from_template(source_stream)
        extradata = source_stream.codec_context.extradata
        # avcC extradata: the samples must be length-prefixed too (MP4 readers find keyframes).
        self._nal_length = (extradata[4] & 3) + 1 if extradata and extradata[0] == 1 else None
        self._origin: int | None = None
        self._last_dts: int | None = None
        self.skipped = 0  # packets whose timestamps went backwards or repeated a frame
        self._written_pts: set[int] = set()  # one clip part: at most max_seconds of frames
        self.first_wall: float | None = None
        self.last_wall: float | None = None
        self.packets = 0

    @property
    def seconds(self) -> float:
        """Wall-clock span written so far."""
        if self.first_wall is None or self.last_wall is None:
            return 0.0
        return self.last_wall - self.first_wall

    def in_order(self, stored: StoredPacket) -> bool:
        """False when the packet's decode time does not move forward (a looping source, a
        camera clock reset): the muxer would refuse it."""
        dts = stored.pts if stored.dts is None else stored.dts
        return self._last_dts is None or dts > self._last_dts

    def add(self, stored: StoredPacket) -> None:
        """Append one packet; packets before the first keyframe, out of order or repeating an
        earlier frame's presentation time are skipped."""
        if self._origin is None:
            if not stored.keyframe:
                return
            origin = stored.pts if stored.dts is None else min(stored.pts, stored.dts)
            self._origin = origin
            self.first_wall = stored.wall_time
        if not self.in_order(stored) or stored.pts in self._written_pts:
            # A frame sent twice (same presentation time) is kept once: FFmpeg decodes past a
            # repeat, but Chromium stops the whole clip with a decode error.
            self.skipped += 1
            return
        self._written_pts.add(stored.pts)
        self._last_dts = stored.pts if stored.dts is None else stored.dts
        self.last_wall = stored.wall_time
        self.packets += 1
        if self.transcoding:
            self._transcode(stored)
            return
        data = stored.data
        if self._nal_length is not None:
            data = length_prefixed(data, self._nal_length)
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.time_base = stored.time_base
        packet.pts = stored.pts - self._origin
        dts = stored.pts if stored.dts is None else min(stored.dts, stored.pts)
        packet.dts = dts - self._origin
        packet.is_keyframe = stored.keyframe
        try:
            self._out.mux(packet)
        except av.error.FFmpegError as error:
            if error.errno != errno.EINVAL:
                raise
            self.skipped += 1  # one packet the muxer refuses loses one frame, not the clip
            log.debug("%s: packet pts=%s dts=%s refused: %s", self.path, stored.pts, dts, error)

    def _transcode(self, stored: StoredPacket) -> None:
        assert self._origin is not None
        packet = av.Packet(stored.data)
        packet.time_base = stored.time_base
        packet.pts = stored.pts
        packet.dts = stored.dts
        try:
            frames = self._decoder.decode(packet)
        except av.error.InvalidDataError:
            return  # one broken packet loses a frame, not the clip
        for frame in frames:
            source_pts = stored.pts if frame.pts is None else frame.pts
            image = frame.reformat(
                width=self._stream.width, height=self._stream.height, format="yuv420p"
            )
            image.pts = round(float((source_pts - self._origin) * stored.time_base / CLOCK))
            image.time_base = CLOCK
            for encoded in self._stream.encode(image):
                self._out.mux(encoded)

    def close(self) -> str:
        """Finish the recording and remux it into the final MP4 (moov at the front); returns
        its SHA-256. The partial stays until ``discard_partial`` (after the clip is recorded in
        the ledger), so a crash in between loses nothing."""
        try:
            if self.transcoding:
                for encoded in self._stream.encode(None):
                    self._out.mux(encoded)
        finally:
            self._out.close()
            self._source.close()
        if self.packets == 0:
            self.partial.unlink(missing_ok=True)
            raise ValueError(f"clip {self.path.name} received no keyframe")
        return remux_to_mp4(self.partial, self.path).sha256

    def discard_partial(self) -> None:
        """The clip is recorded: the recording is no longer needed."""
        self.partial.unlink(missing_ok=True)

    def abort(self, keep_partial: bool = False) -> None:
        """Stop writing; drop the partial file unless ``keep_partial`` (a full disk: what it
        holds is finished once space returns)."""
        with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):  # cannot finish
            self._out.close()
        with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):
            self._source.close()
        if not keep_partial:
            self.partial.unlink(missing_ok=True)
