"""CPU saved by motion gating on a static scene (figures, no assertions).

A camera watching an empty aisle: the demo scene's first frame held for a minute with sensor
noise, H.264 at 720p, 10 fps. The same video is replayed through the live path (``replay``: decode,
motion gate, detector at 2 fps, rules) with gating on and off, alternating rounds; the table gives
CPU seconds per video minute, inferences, and the share of CPU saved.

    python -m bench.motion_gating [--rounds 2] [--seconds 60]
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import yaml
from av.video.stream import VideoStream

from bench.proc import process_cpu_s
from detect.model_probe import describe_model
from sitewatch.config.loader import load_config
from sitewatch.config.site import SiteConfig
from sitewatch.demo.scene import EXIT_ZONE, SceneSpec, iter_frames
from sitewatch.replay import replay
from sitewatch.runner import load_detectors

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "data" / "bench" / "motion"


def static_video(seconds: int, fps: int = 10) -> Path:
    """The first scene frame held for ``seconds`` with sensor noise (cached)."""
    path = WORK / f"static-{seconds}s.mp4"
    if path.is_file():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    still = next(iter_frames(SceneSpec(width=1280, height=720, fps=fps, duration_s=1.0)))
    rng = np.random.default_rng(0)
    part = path.with_suffix(".part.mp4")
    with av.open(str(part), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "bf": "0"})
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index in range(seconds * fps):
            noisy = np.clip(still + rng.normal(0, 2.0, still.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(noisy, format="bgr24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    part.replace(path)
    return path


def site(gating: bool) -> SiteConfig:
    """One camera with the demo's exit zone, the default model, gating on or off."""
    config = {
        "site": {"id": "bench"},
        "cameras": [
            {
                "name": "aisle",
                "url": "rtsp://127.0.0.1:9/none",
                "detect_fps": 2,
                "zones": [{"name": "exit", "kind": "exit", "points": [list(p) for p in EXIT_ZONE]}],
            }
        ],
        "models": [{"name": "hazards", "path": str(ROOT / "models" / "hazards.onnx")}],
        "rules": {"motion": {"enabled": gating}},
        "storage": {"data_dir": str(WORK / "data")},
    }
    path = WORK / f"site-{gating}.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_config(path, read_model=describe_model)


def main() -> None:
    """Print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    video = static_video(args.seconds)
    figures: dict[bool, list[tuple[float, int, int]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for gating in (False, True):
            config = site(gating)
            detectors = load_detectors(config)
            started = process_cpu_s()
            result = replay(config, video, None, detectors)
            cpu = process_cpu_s() - started
            figures[gating].append((cpu, result.inferred, result.gated))
    minutes = args.seconds / 60
    print(f"static 720p scene, {args.seconds} s at 10 fps, detector at 2 fps, {args.rounds} rounds")
    print(f"{'gating':<8}{'CPU s / video min':>20}{'inferences':>12}{'gated':>8}")
    for gating in (False, True):
        cpu = float(np.median([f[0] for f in figures[gating]])) / minutes
        inferred = figures[gating][-1][1]
        gated = figures[gating][-1][2]
        print(f"{'on' if gating else 'off':<8}{cpu:>20.2f}{inferred:>12}{gated:>8}")
    off = float(np.median([f[0] for f in figures[False]]))
    on = float(np.median([f[0] for f in figures[True]]))
    print(f"CPU saved by gating: {100 * (1 - on / off):.0f} % (decode and exit checks remain)")


if __name__ == "__main__":
    main()
