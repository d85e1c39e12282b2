"""Packets -> MP4 without re-encoding (H.264 plays in browsers; ``+faststart`` for streaming)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import av

from ingest.packet_ring import StoredPacket, StreamTemplate


def write_mp4(template: StreamTemplate, packets: Iterable[StoredPacket], path: Path) -> int:
    """Remux ``packets`` (starting at a keyframe) into ``path``; returns packets written.

    Timestamps are shifted so the clip starts at zero.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    options = {"movflags": "+faststart"}
    with (
        av.open(io.BytesIO(template.container_bytes), "r") as source,
        av.open(str(path), "w", format="mp4", options=options) as out,
    ):
        stream = out.add_stream_from_template(source.streams.video[0])
        origin: int | None = None
        for stored in packets:
            if origin is None:
                if not stored.keyframe:
                    continue
                origin = min(stored.pts, stored.dts if stored.dts is not None else stored.pts)
            packet = av.Packet(stored.data)
            packet.stream = stream
            packet.time_base = stored.time_base
            packet.pts = stored.pts - origin
            packet.dts = None if stored.dts is None else stored.dts - origin
            packet.is_keyframe = stored.keyframe
            out.mux(packet)
            written += 1
    if written == 0:
        path.unlink(missing_ok=True)
        raise ValueError("no keyframe among the packets: nothing to remux")
    return written
