"""The live view's cost on the edge: CPU of the API process per viewer and per camera watched.

The API runs in a child process with synthetic 720p cameras (frames change 25 times a second,
as a reader's newest frame does; no decoding here, that cost is the reader's and is paid
anyway) and a detection result per camera; viewers in this process read ``/api/live`` over
loopback. The child's CPU comes from /proc (user + system). Figures only:

    python -m bench.live_view [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

CASES = (  # (label, viewers, cameras each, fps, width)
    ("nobody watches", 0, 1, 5.0, 640),
    ("1 viewer, 1 camera, 5 fps, 640 px", 1, 1, 5.0, 640),
    ("2 viewers, same camera and size", 2, 1, 5.0, 640),
    ("4 viewers, same camera and size", 4, 1, 5.0, 640),
    ("2 viewers, same camera, 640 and 1280 px", 2, 1, 5.0, 0),
    ("1 viewer, grid of 4 cameras, 2 fps, 480 px", 1, 4, 2.0, 480),
    ("1 viewer, 1 camera, 5 fps, 1280 px", 1, 1, 5.0, 1280),
)
TOKEN = "bench-token-0123456789abcdef"


def serve(port: int, cameras: int) -> None:
    """The child: an API over synthetic cameras (runs until killed)."""
    from alerts.contract import Topics
    from alerts.ledger import Ledger
    from core.vocabulary import ZoneKind
    from detect.detections import Detections
    from detect.zones import ZoneShape
    from ingest.frames import Frame
    from ingest.status import CameraState, CameraStatus
    from sitewatch.api import api_server, create_app
    from sitewatch.api.context import ApiDependencies
    from sitewatch.api.live_stream import LiveFeed
    from sitewatch.live_results import LiveResult

    names = [f"cam-{i}" for i in range(cameras)]
    rng = np.random.default_rng(1)
    pictures = [rng.integers(0, 255, (720, 1280, 3), np.uint8) for _ in range(8)]
    for picture in pictures:  # CCTV-like: smooth areas compress as real scenes do
        picture[:] = (picture // 32) * 32
    newest: dict[str, Frame] = {}
    feed = LiveFeed(newest.get)
    boxes = Detections(
        np.array([[300, 200, 500, 600]], np.float32),
        np.array([0.8], np.float32),
        np.array([0], np.int32),
        ("person",),
    )
    zone = ZoneShape("exit-1", ZoneKind.EXIT, ((0.6, 0.1), (0.9, 0.1), (0.9, 0.9)))

    def cameras_run() -> None:
        index = 0
        while True:
            index += 1
            now = time.time()
            for name in names:
                newest[name] = Frame(name, pictures[index % 8], index, time.monotonic(), now, None)
                feed.results.put(LiveResult(name, now, 1280, 720, boxes, now, [zone]))
            time.sleep(0.04)

    threading.Thread(target=cameras_run, daemon=True).start()
    data = Path(tempfile.mkdtemp())
    deps = ApiDependencies.of_ledger(
        Ledger(data / "ledger.sqlite3"),
        data,
        Topics("sw", "bench"),
        "http://127.0.0.1",
        cameras=lambda: [CameraStatus(n, CameraState.ONLINE, time.time()) for n in names],
        tokens={TOKEN: ("bench", "viewer")},
        live=feed,
    )
    api_server(create_app(deps), "127.0.0.1", port).run()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch(url: str, stop: threading.Event, received: list[int]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("GET", url, headers=headers, timeout=10) as response:
        for chunk in response.iter_bytes():
            received.append(len(chunk))
            if stop.is_set():
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cameras", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.cameras)
        return
    from sitewatch.demo.rtsp import free_port

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.live_view", "--serve", str(port), "--cameras", "4"]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(1.0)
        print(f"API process CPU (one core = 100 %), {args.seconds:g} s per case, 720p sources")
        print(f"{'case':46} {'CPU %':>7} {'per viewer':>11} {'per camera':>11} {'kB/s/viewer':>12}")
        idle = None
        for label, viewers, cameras, fps, width in CASES:
            stop = threading.Event()
            received: list[list[int]] = [[] for _ in range(viewers)]
            threads = []
            for v in range(viewers):
                size = width or (640, 1280)[v % 2]
                query = "&".join(f"camera=cam-{c}" for c in range(cameras))
                url = f"{base}/api/live?{query}&fps={fps}&width={size}"
                thread = threading.Thread(target=watch, args=(url, stop, received[v]), daemon=True)
                thread.start()
                threads.append(thread)
            time.sleep(1.0)  # connected, first encodes done
            for r in received:
                r.clear()
            start_cpu, start = cpu_s(child.pid), time.monotonic()
            time.sleep(args.seconds)
            used = (cpu_s(child.pid) - start_cpu) / (time.monotonic() - start) * 100
            stop.set()
            for thread in threads:
                thread.join(5)
            idle = used if idle is None else idle
            extra = used - idle
            per_viewer = f"{extra / viewers:.1f}" if viewers else "—"
            per_camera = f"{extra / (viewers * cameras):.1f}" if viewers else "—"
            rate = (
                sum(sum(r) for r in received) / max(viewers, 1) / args.seconds / 1000
                if viewers
                else 0.0
            )
            print(f"{label:46} {used:7.1f} {per_viewer:>11} {per_camera:>11} {rate:12.0f}")
            time.sleep(0.5)
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    main()
