"""Small media files for ingest tests, made on the fly with PyAV (each well under a second).

Every function writes into ``dir`` and returns the path. The video is a moving
pattern (a bright square sweeping over a gradient, with the frame number
burnt in), so consecutive frames differ and a decoder has real work to do.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.video.stream import VideoStream

from alerts.clip_writer import ClipWriter
from ingest.packet_ring import StoredPacket, StreamTemplate

__all__ = [
    "audio_only",
    "garbage_server",
    "h264_clip",
    "h265_clip",
    "mjpeg_clip",
    "pattern_frames",
    "resolution_change_ts",
    "truncated",
    "truncated_ts",
]

Image = npt.NDArray[np.uint8]
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- pictures


def _gradient(width: int, height: int) -> Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = (x * 0.6 + y * 0.2).astype(np.uint8)
    img[..., 1] = (y * 0.5 + 40).astype(np.uint8)
    img[..., 2] = (255 - x * 0.7).astype(np.uint8)
    return img


def _draw(background: Image, index: int, count: int) -> Image:
    img = background.copy()
    height, width = img.shape[:2]
    side = max(8, height // 4)
    x = (index * 7) % max(1, width - side)
    y = (height - side) * index // max(1, count - 1)
    img[y : y + side, x : x + side] = (240, 240, 240)
    scale = height / 360
    org = (max(2, width // 40), max(12, height // 8))
    cv2.putText(img, f"#{index}", org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2)
    return img


def pattern_frames(width: int, height: int, count: int) -> Iterator[Image]:
    """``count`` BGR frames of a square moving over a gradient, frame number top left."""
    background = _gradient(width, height)
    for i in range(count):
        yield _draw(background, i, count)


# --------------------------------------------------------------------------- encoding


def _h264_options(gop: int, slices: int = 1, bframes: int = 0) -> dict[str, str]:
    # One slice per frame unless asked: FFmpeg's RTSP client splits a multi-slice
    # IDR frame in two and decodes an extra (partial) frame at each keyframe.
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}"
    params += f":sliced-threads=0:slices={slices}"
    if bframes:  # zerolatency would turn B-frames off
        return {"preset": "veryfast", "bf": str(bframes), "x264-params": params}
    return {"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "x264-params": params}


def _h265_options(gop: int) -> dict[str, str]:
    return {
        "preset": "ultrafast",
        "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:log-level=error",
    }


def _add_video(
    out: av.container.OutputContainer,
    codec: str,
    width: int,
    height: int,
    fps: int,
    gop: int,
    options: dict[str, str],
    pix_fmt: str = "yuv420p",
) -> VideoStream:
    stream = out.add_stream(codec, rate=fps, options=options)
    if not isinstance(stream, VideoStream):
        raise TypeError(f"{codec} is not a video encoder")
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.codec_context.gop_size = gop
    stream.codec_context.max_b_frames = 0
    stream.codec_context.time_base = Fraction(1, fps)
    return stream


def _encode_frames(
    out: av.container.OutputContainer,
    stream: VideoStream,
    frames: Iterator[Image],
    first_pts: int = 0,
) -> int:
    """Encode and mux ``frames`` (then flush); returns the pts after the last frame."""
    pts = first_pts
    for img in frames:
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts, frame.time_base = pts, stream.codec_context.time_base
        out.mux(stream.encode(frame))
        pts += 1
    out.mux(stream.encode(None))
    return pts


def _write_video(
    path: Path,
    codec: str,
    *,
    size: tuple[int, int],
    fps: int,
    seconds: float,
    gop: int,
    options: dict[str, str],
    pix_fmt: str = "yuv420p",
    container_options: dict[str, str] | None = None,
) -> Path:
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream = _add_video(out, codec, width, height, fps, gop, options, pix_fmt)
        _encode_frames(out, stream, pattern_frames(width, height, round(seconds * fps)))
    return path


def h264_clip(
    dir: Path,
    name: str = "h264.mp4",
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    seconds: float = 4.0,
    gop: int = 25,
    faststart: bool = True,
    slices: int = 1,
    bframes: int = 0,
) -> Path:
    """H.264 (a keyframe every ``gop`` frames, no B-frames unless ``bframes``) in
    .mp4/.mkv/.ts, by ``name``.

    ``slices`` > 1 cuts every frame into slices, as many cameras do (FFmpeg's RTSP
    client then decodes one extra, partial frame at each keyframe).
    """
    movflags = {"movflags": "+faststart"} if faststart and name.endswith(".mp4") else {}
    return _write_video(
        dir / name,
        "libx264",
        size=(width, height),
        fps=fps,
        seconds=seconds,
        gop=gop,
        options=_h264_options(gop, slices, bframes),
        container_options=movflags,
    )


def h265_clip(
    dir: Path,
    name: str = "h265.mp4",
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    seconds: float = 4.0,
    gop: int = 25,
) -> Path:
    """H.265 (libx265, no B-frames), .mp4 by default: both RTSP test servers serve it."""
    return _write_video(
        dir / name,
        "libx265",
        size=(width, height),
        fps=fps,
        seconds=seconds,
        gop=gop,
        options=_h265_options(gop),
        container_options={"movflags": "+faststart"} if name.endswith(".mp4") else {},
    )


def mjpeg_clip(
    dir: Path,
    name: str = "mjpeg.mkv",
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    seconds: float = 4.0,
) -> Path:
    """Motion JPEG in Matroska (GStreamer serves it; the aio server does not do MJPEG)."""
    return _write_video(
        dir / name,
        "mjpeg",
        size=(width, height),
        fps=fps,
        seconds=seconds,
        gop=1,
        options={"q:v": "5"},
        pix_fmt="yuvj420p",
    )


def resolution_change_ts(dir: Path, name: str = "resolution_change.ts", fps: int = 25) -> Path:
    """MPEG-TS, H.264: 2 s at 640x360, then 2 s at 320x180 (same PID, timestamps run on).

    The second half comes from a second encoder muxed into the same stream, so the
    new SPS arrives in-band at the switch, as with a camera whose resolution is changed.
    """
    path = dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 2 * fps
    with av.open(str(path), mode="w", format="mpegts") as out:
        stream = _add_video(out, "libx264", 640, 360, fps, fps, _h264_options(fps))
        pts = _encode_frames(out, stream, pattern_frames(640, 360, count))
        second = av.CodecContext.create("libx264", "w")
        second.width, second.height, second.pix_fmt = 320, 180, "yuv420p"
        second.time_base, second.framerate = Fraction(1, fps), Fraction(fps)
        second.gop_size, second.max_b_frames = fps, 0
        second.options = _h264_options(fps)
        for img in pattern_frames(320, 180, count):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = pts, Fraction(1, fps)
            pts += 1
            _mux_into(out, stream, second.encode(frame))
        _mux_into(out, stream, second.encode(None))
    return path


def _mux_into(
    out: av.container.OutputContainer,
    stream: VideoStream,
    packets: list[av.Packet[VideoStream]],
) -> None:
    for packet in packets:
        packet.stream = stream
        out.mux(packet)


def audio_only(dir: Path, name: str = "audio_only.mp4", seconds: float = 4.0) -> Path:
    """AAC in .mp4 and no video track: a 440 Hz tone at 16 kHz mono."""
    path = dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rate, samples = 16000, 1024
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, round(seconds * rate), samples):
            t = (np.arange(start, start + samples, dtype=np.float32)) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            frame.rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def truncated(dir: Path, name: str = "truncated.mp4", fraction: float = 0.4) -> Path:
    """An H.264 .mp4 written without faststart and cut to ``fraction`` of its bytes.

    The moov atom (at the end) is lost, so nothing in it can be decoded.
    """
    return _cut(h264_clip(dir, name=name, faststart=False), fraction)


def truncated_ts(dir: Path, name: str = "truncated.ts", fraction: float = 0.5) -> Path:
    """An H.264 MPEG-TS cut in the middle (mid-packet): the first part still decodes."""
    return _cut(h264_clip(dir, name=name), fraction)


# --------------------------------------------------------------------------- garbage


def _spew(conn: socket.socket, size: int, hold_s: float) -> None:
    with conn:
        try:
            conn.sendall(os.urandom(size))
            conn.settimeout(hold_s)
            conn.recv(65536)  # hold the line briefly (or until the client hangs up)
        except OSError:
            pass


def _accept_loop(listener: socket.socket, stop: threading.Event, size: int, hold_s: float) -> None:
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        threading.Thread(target=_spew, args=(conn, size, hold_s), daemon=True).start()


@contextmanager
def garbage_server(size: int = 4096, hold_s: float = 1.0) -> Iterator[int]:
    """A TCP port on 127.0.0.1 that answers every connection with ``size`` random bytes.

    Each connection is then held for ``hold_s`` (or until the client closes) and closed.
    Yields the port.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    args = (listener, stop, size, hold_s)
    thread = threading.Thread(target=_accept_loop, args=args, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2.0)
        listener.close()


def write_clip(template: StreamTemplate, packets: Iterable[StoredPacket], path: Path) -> ClipWriter:
    """Packets written as an evidence clip is (``alerts.clip_writer``); the closed writer."""
    writer = ClipWriter(path, template)
    for packet in packets:
        writer.add(packet)
    writer.close()
    return writer
