"""Writes one evidence clip: remuxed H.264 when the camera sends it, else re-encoded to H.264.

Browsers play H.264 in MP4 with ``+faststart``; H.265 and MJPEG cameras are transcoded with
libx264 (veryfast) so that every clip plays in the console.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ingest.packet_ring import StoredPacket, StreamTemplate

log = logging.getLogger(__name__)
BROWSER_CODECS = frozenset({"h264"})
CLOCK = Fraction(1, 90_000)


class ClipWriter:
    """Appends packets to an MP4 starting at a keyframe; ``close`` returns the SHA-256."""

    def __init__(self, path: Path, template: StreamTemplate) -> None:
        self.path = path
        self.template = template
        self.transcoding = template.codec not in BROWSER_CODECS
        path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = path.with_name(f".{path.name}.partial")
        self._source = av.open(io.BytesIO(template.container_bytes), "r")
        source_stream = self._source.streams.video[0]
        self._out = av.open(
            str(self._partial), "w", format="mp4", options={"movflags": "+faststart"}
        )
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
        packet = av.Packet(stored.data)
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
        """Finish the file (moov moved to the front), rename it into place, return its SHA-256."""
        try:
            if self.transcoding:
                for encoded in self._stream.encode(None):
                    self._out.mux(encoded)
        finally:
            self._out.close()
            self._source.close()
        if self.packets == 0:
            self._partial.unlink(missing_ok=True)
            raise ValueError(f"clip {self.path.name} received no keyframe")
        self._partial.replace(self.path)
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def abort(self) -> None:
        """Drop the partial file."""
        with contextlib.suppress(av.error.FFmpegError, ValueError):  # the file is discarded
            self._out.close()
        self._source.close()
        self._partial.unlink(missing_ok=True)
