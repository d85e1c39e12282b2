"""Camera ingest cost: sitewatch's CameraReader next to an OpenCV ``VideoCapture.read()`` loop.

N cameras of 720p25 H.264 from local RTSP servers (separate processes, so their CPU is not
counted); one consumer thread takes each camera's newest frame at the detect rate (2 fps).
For each camera count and reader it prints the CPU of this process per camera (% of one core),
decoded fps, frame age when taken (p50/p95, from decode to a numpy image in the consumer's
hands), frames decoded but never used, frames lost against the stream's 25 fps, and RSS growth
per camera. Both readers run alternately in the same process run, so their CPU ratio is measured
side by side on a noisy machine. A second table gives the CPU of each decode policy.

Run: .venv/bin/python -m bench.ingest [--cameras 4 8 12] [--seconds 10] [--rounds 2] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from bench.proc import percentile, pid_cpu_s, process_cpu_s
from ingest.camera_reader import CameraReader, DecodePolicy, ReaderSettings
from ingest.frames import Image
from sitewatch.demo.rtsp import free_port, start_rtsp_server, stop_process, wait_for_port
from sitewatch.demo.scene import SceneSpec, ensure_scene

HOST = "127.0.0.1"
BENCH_DIR = Path("data/bench")
CLIP = "cam.mp4"
# crf 18 gives about 2.3 Mbit/s with the scene's sensor noise: a real 720p camera's bitrate
# (crf 23, the demo's, is 0.6 Mbit/s and flatters decoders).
SPEC = SceneSpec(width=1280, height=720, fps=25, duration_s=20.0, obstacle_at_s=8.0, seed=7, crf=18)
DETECT_FPS = 2.0
WARMUP_S = 3.0
ONLINE_TIMEOUT_S = 30.0
JOIN_TIMEOUT_S = 15.0
# After a run: a torn-down session keeps its server worker thread for a few seconds.
SETTLE_S = 5.0
# rtsp-server streams each session from an asyncio.to_thread worker; the default pool has
# min(32, cores + 4) threads, so one server streams at most that many sessions at once (6 on
# 2 cores) and further sessions get no frames until a worker frees up.
SERVER_STREAMS = min(32, (os.cpu_count() or 1) + 4)
SITEWATCH, OPENCV = "sitewatch", "opencv"
CPU_GOAL_RATIO = 0.8
AGE_GOAL_MS = 200.0
RSS_GOAL_MB = 30.0


# --------------------------------------------------------------------------- process figures


def host_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------- RTSP servers


class ServerPool:
    """Several rtsp-server processes serving the clip; camera i goes to server i mod count."""

    def __init__(self, media_dir: Path, count: int) -> None:
        self._media_dir = media_dir
        self._count = count
        self._procs: list[subprocess.Popen[bytes]] = []
        self._ports: list[int] = []

    def __enter__(self) -> ServerPool:
        for _ in range(self._count):
            port, control = free_port(HOST), free_port(HOST)
            log = self._media_dir.parent / f"rtsp-server-{port}.log"
            proc = start_rtsp_server(self._media_dir, HOST, port, control, log)
            self._procs.append(proc)
            self._ports.append(port)
            wait_for_port(HOST, port, 15.0, proc)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            stop_process(proc, 5.0)

    def urls(self, cameras: int) -> list[str]:
        """One looping stream URL per camera, spread over the servers."""
        ports = [self._ports[i % len(self._ports)] for i in range(cameras)]
        return [f"rtsp://{HOST}:{port}/{CLIP}?play_count=0" for port in ports]

    def cpu_s(self) -> float:
        """CPU seconds all servers have used so far."""
        return sum(pid_cpu_s(proc.pid) for proc in self._procs)


# --------------------------------------------------------------------------- readers


class Source(Protocol):
    """One camera read by one of the compared readers."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def take(self) -> float | None:
        """Age in seconds of a frame newer than the last taken, as a numpy image; else None."""
        ...

    def counts(self) -> tuple[int, int]:
        """(frames decoded, frames decoded but replaced before anyone took them)."""
        ...

    def bitrate_kbps(self) -> float: ...


class SitewatchSource:
    """sitewatch's CameraReader; frames become numpy images only when taken."""

    def __init__(self, name: str, url: str, policy: DecodePolicy) -> None:
        self._stop = threading.Event()
        self._reader = CameraReader(ReaderSettings(name, url, decode=policy), self._stop)
        self._last = -1

    def start(self) -> None:
        self._reader.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._reader.join(timeout)

    def take(self) -> float | None:
        frame = self._reader.latest.take_newer(self._last, now=time.monotonic())
        if frame is None:
            return None
        self._last = frame.index
        return time.monotonic() - frame.monotonic

    def counts(self) -> tuple[int, int]:
        status = self._reader.status
        return status.frames, status.dropped

    def bitrate_kbps(self) -> float:
        return self._reader.status.bitrate_kbps


class OpenCvSource(threading.Thread):
    """The textbook loop: a thread calls ``cap.read()`` and keeps (image, time) in a slot."""

    def __init__(self, name: str, url: str) -> None:
        super().__init__(name=f"opencv-{name}", daemon=True)
        self._url = url
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._latest: tuple[int, float, Image] | None = None
        self._taken = -1
        self._frames = 0
        self._unused = 0

    def run(self) -> None:
        cap = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG)
        try:
            while not self._stop_event.is_set():
                ok, image = cap.read()
                if not ok:
                    self._stop_event.wait(0.2)
                    continue
                self._store(np.asarray(image, dtype=np.uint8))  # no copy
        finally:
            cap.release()

    def _store(self, image: Image) -> None:
        now = time.monotonic()
        with self._lock:
            if self._latest is not None and self._latest[0] > self._taken:
                self._unused += 1
            self._latest = (self._frames, now, image)
            self._frames += 1

    def stop(self) -> None:
        self._stop_event.set()

    def take(self) -> float | None:
        with self._lock:
            latest = self._latest
            if latest is None or latest[0] <= self._taken:
                return None
            self._taken = latest[0]
        return time.monotonic() - latest[1]

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self._frames, self._unused

    def bitrate_kbps(self) -> float:
        return math.nan


def make_source(reader: str, name: str, url: str) -> Source:
    """``opencv``, ``sitewatch`` (decode all) or ``sitewatch/<policy>``."""
    if reader == OPENCV:
        return OpenCvSource(name, url)
    policy = reader.partition("/")[2] or DecodePolicy.ALL.value
    return SitewatchSource(name, url, DecodePolicy(policy))


class Consumer(threading.Thread):
    """Takes every camera's newest frame at the detect rate; records (time, age)."""

    def __init__(self, sources: Sequence[Source], rate: float) -> None:
        super().__init__(name="bench-consumer", daemon=True)
        self._sources = sources
        self._interval = 1.0 / rate
        self._stop_event = threading.Event()
        self.ages: list[tuple[float, float]] = []
        self.misses: list[float] = []

    def run(self) -> None:
        deadline = time.monotonic()
        while not self._stop_event.is_set():
            for source in self._sources:
                age = source.take()
                if age is None:
                    self.misses.append(time.monotonic())
                else:
                    self.ages.append((time.monotonic(), age))
            deadline += self._interval
            self._stop_event.wait(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self._stop_event.set()

    def ages_ms(self, start: float, end: float) -> list[float]:
        return [age * 1000 for at, age in self.ages if start <= at <= end]

    def missed(self, start: float, end: float) -> int:
        return sum(1 for at in self.misses if start <= at <= end)


# --------------------------------------------------------------------------- one run


@dataclass
class Snapshot:
    """Counters at one instant."""

    at: float
    cpu_s: float
    server_cpu_s: float
    host: tuple[int, int]
    frames: int
    unused: int

    @classmethod
    def take(cls, sources: Sequence[Source], servers: ServerPool) -> Snapshot:
        counts = [source.counts() for source in sources]
        return cls(
            time.monotonic(),
            process_cpu_s(),
            servers.cpu_s(),
            host_ticks(),
            sum(c[0] for c in counts),
            sum(c[1] for c in counts),
        )


@dataclass
class Run:
    """Figures of one reader over one measurement window."""

    reader: str
    cameras: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    host_busy: float = 0.0  # fraction of all cores, whole machine
    frames: int = 0
    unused: int = 0
    missed: int = 0
    kbps: float = 0.0
    rss_growth_mb: float = 0.0
    offline: int = 0  # cameras that gave no frame before the warm-up
    startup_s: float = 0.0  # until every camera gave its first frame
    ages_ms: list[float] = field(default_factory=list)


def wait_first_frames(sources: Sequence[Source], timeout: float) -> tuple[int, float]:
    """Wait until every source decoded a frame (or shows bitrate): (still silent, seconds)."""
    started = time.monotonic()
    while True:
        silent = sum(1 for s in sources if s.counts()[0] == 0 and not s.bitrate_kbps() > 0)
        waited = time.monotonic() - started
        if silent == 0 or waited > timeout:
            return silent, waited
        time.sleep(0.1)


def measure(reader: str, urls: Sequence[str], seconds: float, servers: ServerPool) -> Run:
    """Start one reader per URL, warm up, measure for ``seconds``, stop everything."""
    gc.collect()
    rss_before = rss_mb()
    sources = [make_source(reader, f"cam{i}", url) for i, url in enumerate(urls)]
    consumer = Consumer(sources, DETECT_FPS)
    for source in sources:
        source.start()
    offline, startup = wait_first_frames(sources, ONLINE_TIMEOUT_S)
    consumer.start()
    time.sleep(WARMUP_S)
    first = Snapshot.take(sources, servers)
    time.sleep(seconds)
    last = Snapshot.take(sources, servers)
    kbps = sum(source.bitrate_kbps() for source in sources) / len(sources)
    rss_after = rss_mb()
    consumer.stop()
    for source in sources:
        source.stop()
    consumer.join(JOIN_TIMEOUT_S)
    for source in sources:
        source.join(JOIN_TIMEOUT_S)
    time.sleep(SETTLE_S)
    run = _run_figures(reader, len(urls), first, last, consumer, rss_after - rss_before, kbps)
    run.offline, run.startup_s = offline, startup
    return run


def _run_figures(
    reader: str,
    cameras: int,
    first: Snapshot,
    last: Snapshot,
    consumer: Consumer,
    rss_growth: float,
    kbps: float,
) -> Run:
    busy, total = (b - a for a, b in zip(first.host, last.host, strict=True))
    return Run(
        reader=reader,
        cameras=cameras,
        wall_s=last.at - first.at,
        cpu_s=last.cpu_s - first.cpu_s,
        server_cpu_s=last.server_cpu_s - first.server_cpu_s,
        host_busy=busy / total if total else 0.0,
        frames=last.frames - first.frames,
        unused=last.unused - first.unused,
        missed=consumer.missed(first.at, last.at),
        kbps=kbps,
        rss_growth_mb=rss_growth,
        ages_ms=consumer.ages_ms(first.at, last.at),
    )


# --------------------------------------------------------------------------- figures


def merge(runs: Sequence[Run]) -> Run:
    """Pool the rounds of one (reader, cameras) pair."""
    total = Run(runs[0].reader, runs[0].cameras)
    for run in runs:
        total.wall_s += run.wall_s
        total.cpu_s += run.cpu_s
        total.server_cpu_s += run.server_cpu_s
        total.host_busy += run.host_busy * run.wall_s
        total.frames += run.frames
        total.unused += run.unused
        total.missed += run.missed
        total.kbps += run.kbps / len(runs)
        total.rss_growth_mb = max(total.rss_growth_mb, run.rss_growth_mb)
        total.offline = max(total.offline, run.offline)
        total.ages_ms.extend(run.ages_ms)
    total.host_busy /= total.wall_s or 1.0
    return total


def cpu_per_camera(run: Run) -> float:
    """Percent of one core per camera."""
    return 100 * run.cpu_s / run.wall_s / run.cameras if run.wall_s else math.nan


def fps_per_camera(run: Run) -> float:
    return run.frames / run.wall_s / run.cameras if run.wall_s else math.nan


def lost_percent(run: Run) -> float:
    """Frames the stream should have given (25 fps) that were not decoded."""
    expected = SPEC.fps * run.wall_s * run.cameras
    return max(0.0, 100 * (1 - run.frames / expected)) if expected else math.nan


HEADER = (
    f"{'cams':>4} {'reader':<10} {'CPU%/cam':>8} {'fps/cam':>7} {'age p50':>7} {'age p95':>7}"
    f" {'unused%':>7} {'lost%':>5} {'RSS MB/cam':>10} {'server CPU%':>11} {'host busy%':>10}"
)


def row(run: Run) -> str:
    unused = 100 * run.unused / run.frames if run.frames else math.nan
    return (
        f"{run.cameras:>4} {run.reader:<10} {cpu_per_camera(run):8.1f} {fps_per_camera(run):7.1f}"
        f" {percentile(run.ages_ms, 50):7.0f} {percentile(run.ages_ms, 95):7.0f}"
        f" {unused:7.1f} {lost_percent(run):5.1f} {run.rss_growth_mb / run.cameras:10.1f}"
        f" {100 * run.server_cpu_s / run.wall_s:11.0f} {100 * run.host_busy:10.0f}"
    )


def print_comparison(runs: dict[tuple[int, str], list[Run]], counts: Sequence[int]) -> None:
    print("\nReaders side by side (ages in ms; CPU in % of one core; pooled over rounds)")
    print(HEADER)
    for cameras in counts:
        for reader in (SITEWATCH, OPENCV):
            print(row(merge(runs[cameras, reader])))
    print("\nGoals: sitewatch/opencv CPU <= 0.8, frame age p95 <= 200 ms, RSS growth <= 30 MB/cam")
    for cameras in counts:
        ours, theirs = merge(runs[cameras, SITEWATCH]), merge(runs[cameras, OPENCV])
        ratio = cpu_per_camera(ours) / cpu_per_camera(theirs)
        per_round = [
            cpu_per_camera(a) / cpu_per_camera(b)
            for a, b in zip(runs[cameras, SITEWATCH], runs[cameras, OPENCV], strict=True)
        ]
        rounds = ", ".join(f"{r:.2f}" for r in per_round)
        p95 = percentile(ours.ages_ms, 95)
        growth = ours.rss_growth_mb / cameras
        print(
            f"{cameras:>3} cameras: CPU ratio {ratio:.2f} ({_verdict(ratio <= CPU_GOAL_RATIO)};"
            f" rounds: {rounds}), age p95 {p95:.0f} ms ({_verdict(p95 <= AGE_GOAL_MS)}),"
            f" RSS {growth:.1f} MB/cam ({_verdict(growth <= RSS_GOAL_MB)})"
        )


def _verdict(met: bool) -> str:
    return "meets goal" if met else "MISSES goal"


def print_policies(runs: Sequence[Run]) -> None:
    print(f"\nDecode policy, sitewatch reader, {runs[0].cameras} cameras")
    print(f"{'policy':<10} {'CPU%/cam':>8} {'fps/cam':>7} {'kbps/cam':>8} {'vs all':>6}")
    base = cpu_per_camera(runs[0])
    for run in runs:
        cpu = cpu_per_camera(run)
        print(
            f"{run.reader.partition('/')[2]:<10} {cpu:8.1f} {fps_per_camera(run):7.1f}"
            f" {run.kbps:8.0f} {cpu / base:6.2f}"
        )


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    cameras: tuple[int, ...]
    seconds: float
    rounds: int
    per_server: int
    policies: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--cameras", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per count")
    parser.add_argument("--per-server", type=int, default=4, help="cameras per RTSP server")
    parser.add_argument("--skip-policies", action="store_true", help="no decode-policy table")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 and 4 cameras, 4 s")
    args = parser.parse_args(argv)
    if args.quick:
        return Options((2, 4), 4.0, 1, args.per_server, not args.skip_policies)
    return Options(
        tuple(args.cameras), args.seconds, args.rounds, args.per_server, not args.skip_policies
    )


def prepare_clip() -> Path:
    """The 20 s 720p25 clip, rendered once and kept under data/bench/."""
    media_dir = BENCH_DIR / "media"

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"  rendering clip: {done}/{total} frames", flush=True)

    ensure_scene(media_dir / CLIP, SPEC, progress)
    return media_dir


def schedule(options: Options) -> Iterator[tuple[int, str]]:
    """(cameras, reader) in run order: the two readers alternate, ABBA over rounds."""
    for cameras in options.cameras:
        for round_index in range(options.rounds):
            pair = (SITEWATCH, OPENCV) if round_index % 2 == 0 else (OPENCV, SITEWATCH)
            for reader in pair:
                yield cameras, reader


def report_progress(run: Run) -> None:
    offline = f", {run.offline} cameras silent" if run.offline else ""
    print(
        f"    all online in {run.startup_s:.1f} s; {cpu_per_camera(run):.1f}% CPU/cam,"
        f" {fps_per_camera(run):.1f} fps/cam,"
        f" age p95 {percentile(run.ages_ms, 95):.0f} ms,"
        f" servers {100 * run.server_cpu_s / run.wall_s:.0f}% CPU{offline}",
        flush=True,
    )


def prime(servers: ServerPool) -> None:
    """One short unreported run of each reader, so one-off costs (libraries, pools) are paid."""
    print("  priming both readers (1 camera, not reported) ...", flush=True)
    for reader in (SITEWATCH, OPENCV):
        measure(reader, servers.urls(1), 1.0, servers)


def run_all(options: Options, servers: ServerPool) -> None:
    prime(servers)
    runs: dict[tuple[int, str], list[Run]] = {}
    for cameras, reader in schedule(options):
        print(f"  {reader} x {cameras} cameras ...", flush=True)
        run = measure(reader, servers.urls(cameras), options.seconds, servers)
        report_progress(run)
        runs.setdefault((cameras, reader), []).append(run)
    policy_runs: list[Run] = []
    if options.policies:
        for policy in DecodePolicy:
            reader = f"{SITEWATCH}/{policy.value}"
            print(f"  {reader} x 4 cameras ...", flush=True)
            policy_runs.append(measure(reader, servers.urls(4), options.seconds, servers))
            report_progress(policy_runs[-1])
    print_comparison(runs, options.cameras)
    if policy_runs:
        print_policies(policy_runs)


def main(argv: Sequence[str] | None = None) -> None:
    """Render the clip if needed, start the servers, run every (cameras, reader) pair."""
    options = parse_args(argv)
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    media_dir = prepare_clip()
    needed = max([*options.cameras, 4 if options.policies else 0])
    server_count = math.ceil(needed / options.per_server)
    print(
        f"{server_count} RTSP server(s), {options.seconds:g} s measured per run after"
        f" {WARMUP_S:g} s warm-up, detect rate {DETECT_FPS:g} fps, {os.cpu_count()} cores",
        flush=True,
    )
    if options.per_server > SERVER_STREAMS:
        print(f"  warning: one rtsp-server streams at most {SERVER_STREAMS} sessions at once")
    with ServerPool(media_dir, server_count) as servers:
        run_all(options, servers)


if __name__ == "__main__":
    main()
