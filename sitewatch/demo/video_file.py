"""BGR frames -> an H.264 MP4 encoded the way IP cameras stream: no B-frames (RTSP servers and
browsers get the frames in display order), a keyframe every second, ``+faststart``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

X264_OPTIONS = {"preset": "veryfast", "bf": "0", "x264-params": "scenecut=0"}
ENCODING = "libx264 " + ",".join(f"{k}={v}" for k, v in X264_OPTIONS.items())  # cache keys


def write_camera_video(
    path: Path,
    frames: Iterable[npt.NDArray[Any]],
    fps: int | Fraction,
    size: tuple[int, int],
    crf: int = 23,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Encode ``frames`` (BGR, ``size`` = (width, height)) at ``fps`` (a Fraction for rates such
    as 30000/1001) into ``path``, atomically (a part file renamed at the end);
    ``progress(frames_done)`` after each frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    options = {**X264_OPTIONS, "crf": str(crf)}
    rate = Fraction(fps)
    try:
        with av.open(str(part), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=rate, options=options)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.gop_size = max(1, round(rate))
            stream.codec_context.time_base = 1 / rate
            for index, image in enumerate(frames):
                yuv = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), np.uint8)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.pts, frame.time_base = index, 1 / rate
                out.mux(stream.encode(frame))
                if progress is not None:
                    progress(index + 1)
            out.mux(stream.encode(None))
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    return path
