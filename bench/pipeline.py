"""End to end: N cameras through the real ``sitewatch run`` beside an ultralytics streaming script.

N cameras of 720p25 H.264 (~2.4 Mbit/s) from several local RTSP server processes (one streams
about 6 sessions on 2 cores, so each serves ``--per-server`` cameras), each camera with an exit
zone and every rule on, detect_fps 2. Two systems take turns in one run (A B A B):

- ``sitewatch``: the real ``sitewatch run`` subprocess with a real mosquitto; its figures come
  from ``/api/health`` (per camera: frames analysed and inferred, frame age to the result),
  ``/proc`` (process CPU, RSS, CPU per thread grouped by the thread names py-spy reports) and
  the analysis loop's own CPU per stage;
- ``script``: ``bench/yolo_streams.py`` in the training venv (``YOLO(onnx).predict(source=
  streams, stream=True, vid_stride=12)``) on the same ONNX file at 416 px.

Per N and system it prints process CPU (total and per camera, % of one core), RSS, frames
analysed and inferred per second per camera (the minimum over cameras), frame age p50/p95 (from
decode to the detections), cameras starved (below 90 % of detect_fps), and the ratios
sitewatch/script: CPU per camera as deployed (production models, gating on) and CPU per
inference at equal work (the 416 px pass alone, gating off). At one N (``--study``) it also runs
the 416 px pass alone, gating off, and 640x360 substreams (``url``) with the 720p main stream
recorded (``record_url``), and prints sitewatch's CPU by stage.

The machine is shared: the host's busy share outside the measured processes is printed per run.

Run: .venv/bin/python -m bench.pipeline [--cameras 4 8 12 16 20] [--seconds 20] [--rounds 1]
     [--study 12] [--no-script] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bench.ingest import BENCH_DIR, CLIP, SPEC, ServerPool, host_ticks
from bench.proc import CLOCK_TICKS, percentile, pid_cpu_s
from sitewatch.demo.rtsp import free_port
from sitewatch.demo.scene import SceneSpec, ensure_scene
from tests.servers import BrokerInfo, mosquitto

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "site-example.yaml"
MODEL = ROOT / "models" / "hazards.onnx"
TRAIN_PYTHON = ROOT / ".venv-train" / "bin" / "python"
SUB_CLIP = "sub.mp4"
SUB_SPEC = SceneSpec(width=640, height=360, fps=25, duration_s=20.0, obstacle_at_s=8.0, seed=7)
DETECT_FPS = 2.0
STARVED_SHARE = 0.9  # a camera below this share of detect_fps is starved
EXIT_ZONE = [[0.55, 0.45], [0.85, 0.45], [0.95, 0.98], [0.5, 0.98]]
ONLINE_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
POLL_S = 0.25
SITEWATCH, SCRIPT = "sitewatch", "script"


# --------------------------------------------------------------------------- what runs


@dataclass(frozen=True)
class Variant:
    """One way of running sitewatch."""

    name: str
    models: str  # "production" (the example configuration's models) or "416"
    gating: bool = True
    substream: bool = False
    root: Path | None = None  # another checkout's code (``--base``), else this one
    threads: int | None = None  # ONNX Runtime threads of every model (None: as configured)


PRODUCTION = Variant("production", "production")
PASS_416 = Variant("416 alone", "416")
PASS_416_UNGATED = Variant("416 alone, gating off", "416", gating=False)
PRODUCTION_UNGATED = Variant("production, gating off", "production", gating=False)
SUBSTREAM = Variant("production, 640x360 substreams", "production", substream=True)
SUBSTREAM_416 = Variant("416 alone, 640x360 substreams", "416", substream=True)
STUDY = (PASS_416, PASS_416_UNGATED, PRODUCTION_UNGATED, SUBSTREAM, SUBSTREAM_416)


def production_models(root: Path | None = None) -> list[dict[str, Any]]:
    """The example configuration's model entries (of the checkout at ``root``, else this one:
    an older checkout may not know this one's settings), paths made absolute."""
    example = EXAMPLE if root is None else root / "config" / EXAMPLE.name
    models: list[dict[str, Any]] = yaml.safe_load(example.read_text())["models"]
    return [{**m, "path": str((example.parent / m["path"]).resolve())} for m in models]


def models_of(variant: Variant) -> list[dict[str, Any]]:
    models = production_models(variant.root)
    if variant.threads is not None:
        models = [{**m, "threads": variant.threads} for m in models]
    return models[:1] if variant.models == "416" else models


def site_config(
    variant: Variant,
    urls: Sequence[str],
    record_urls: Sequence[str] | None,
    broker: BrokerInfo,
    data_dir: Path,
    api_port: int,
) -> dict[str, Any]:
    """A site with one camera per URL, an exit zone each, every rule on."""
    cameras = []
    for index, url in enumerate(urls):
        camera: dict[str, Any] = {
            "name": f"cam-{index:02d}",
            "url": url,
            "detect_fps": DETECT_FPS,
            "zones": [{"name": "exit", "kind": "exit", "points": EXIT_ZONE}],
        }
        if record_urls is not None:
            camera["record_url"] = record_urls[index]
        cameras.append(camera)
    return {
        "site": {"id": "bench", "name": "Pipeline bench"},
        "cameras": cameras,
        "models": models_of(variant),
        "rules": {"motion": {"enabled": variant.gating}},
        "mqtt": {"host": "127.0.0.1", "port": broker.port},
        "storage": {"data_dir": str(data_dir)},
        "api": {"host": "127.0.0.1", "port": api_port},
    }


# --------------------------------------------------------------------------- measurements


@dataclass
class Run:
    """Figures of one system over one measured window."""

    system: str
    variant: str
    cameras: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    analysed: list[float]  # per camera, frames analysed per second
    inferred: list[float]  # per camera, inferences per second
    ages_ms: list[float]
    host_busy: float  # share of both cores busy (all processes) during the window
    servers_cpu: float  # share of one core the RTSP servers used
    stages_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage
    threads_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per thread group
    startup_s: float = 0.0

    @property
    def cpu_per_camera(self) -> float:
        return 100 * self.cpu_s / self.wall_s / self.cameras

    @property
    def cpu_per_inference_ms(self) -> float:
        inferences = sum(self.inferred) * self.wall_s
        return 1000 * self.cpu_s / inferences if inferences else math.nan

    @property
    def starved(self) -> int:
        return sum(1 for rate in self.analysed if rate < STARVED_SHARE * DETECT_FPS)


def rss_of(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid``."""
    found: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


THREAD_LINE = re.compile(r'^Thread (\d+) \(\w+\): "(.*)"', re.MULTILINE)


def thread_names(pid: int) -> dict[int, str]:
    """Python thread names by native id (py-spy dump); native-only threads are absent."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return {}
    done = subprocess.run(
        [str(spy), "dump", "--pid", str(pid)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return {int(tid): name for tid, name in THREAD_LINE.findall(done.stdout)}


def thread_group(name: str | None) -> str:
    """What a thread does, from its name."""
    if name is None:
        return "native (ONNX Runtime pool, FFmpeg)"
    if name.startswith("camera-") and name != "camera-watchdog":
        return "camera readers (demux, decode)"
    if name.startswith("analysis"):
        return name
    if name in ("alerts", "clip-recorder", "evidence-retry"):
        return "evidence (alerts, clips)"
    return "other (API, MQTT, watchdog...)"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def analysed_of(figures: dict[str, Any]) -> int:
    """Frames analysed of one camera (before the counter existed: inferred + gated)."""
    if "analysed" in figures:
        return int(figures["analysed"])
    return int(figures.get("inferred", 0)) + int(figures.get("gated", 0))


def cameras_running(health: dict[str, Any], count: int) -> bool:
    figures = health.get("camera_analysis", {})
    return len(figures) == count and all(analysed_of(f) > 2 for f in figures.values())


@dataclass(frozen=True)
class SitewatchProcess:
    """A running ``sitewatch run`` of the bench: its process, API address and log file."""

    proc: subprocess.Popen[bytes]
    base: str
    log_path: Path
    startup_s: float


@contextmanager
def running_sitewatch(
    variant: Variant,
    cameras: int,
    servers: ServerPool,
    broker: BrokerInfo,
    keep_log: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[SitewatchProcess]:
    """The real ``sitewatch run`` on ``cameras`` cameras of ``servers``, yielded once every
    camera is analysed; stopped with SIGTERM (then SIGKILL) on exit, its log copied to
    ``keep_log`` when given. ``env`` adds environment variables to the process."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        tmp_dir = Path(tmp)
        api_port = free_port()
        urls = servers.urls(cameras)
        if variant.substream:
            record_urls: list[str] | None = urls
            urls = [u.replace(f"/{CLIP}", f"/{SUB_CLIP}") for u in urls]
        else:
            record_urls = None
        config = site_config(variant, urls, record_urls, broker, tmp_dir / "data", api_port)
        config_path = tmp_dir / "site.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        log_path = tmp_dir / "sitewatch.log"
        base = f"http://127.0.0.1:{api_port}"
        root = variant.root or ROOT
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sitewatch", "run", "--config", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
            )
        try:
            started = time.monotonic()
            wait_running(proc, base, cameras, log_path)
            yield SitewatchProcess(proc, base, log_path, time.monotonic() - started)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if keep_log is not None:
                keep_log.parent.mkdir(parents=True, exist_ok=True)
                keep_log.write_bytes(log_path.read_bytes())


def measure_sitewatch(
    variant: Variant, cameras: int, servers: ServerPool, broker: BrokerInfo, options: Options
) -> Run:
    """One window of the real ``sitewatch run``."""
    kept = BENCH_DIR / f"sitewatch-{variant.models}-{cameras}.log" if options.keep_logs else None
    with running_sitewatch(variant, cameras, servers, broker, kept) as running:
        time.sleep(options.warmup_s)
        return window(
            running.proc, running.base, variant, cameras, servers, options, running.startup_s
        )


def wait_running(
    proc: subprocess.Popen[bytes], base: str, cameras: int, log_path: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + ONLINE_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sitewatch exited:\n{log_path.read_text()[-3000:]}")
        try:
            health: dict[str, Any] = get_json(f"{base}/api/health")
            if cameras_running(health, cameras):
                return health
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"not every camera analysed within {ONLINE_TIMEOUT_S:g} s")


def window(
    proc: subprocess.Popen[bytes],
    base: str,
    variant: Variant,
    cameras: int,
    servers: ServerPool,
    options: Options,
    startup: float,
) -> Run:
    names = thread_names(proc.pid) if options.threads else {}
    first = get_json(f"{base}/api/health")
    cpu0, threads0, host0 = pid_cpu_s(proc.pid), thread_cpu(proc.pid), host_ticks()
    servers0 = servers.cpu_s()
    t0 = time.monotonic()
    seen = {name: analysed_of(f) for name, f in first["camera_analysis"].items()}
    spy = profile(proc.pid, variant, cameras, options)
    ages: list[float] = []
    rss: list[float] = []
    while time.monotonic() - t0 < options.seconds:
        time.sleep(POLL_S)
        health = get_json(f"{base}/api/health")
        rss.append(rss_of(proc.pid))
        for name, figures in health["camera_analysis"].items():
            if analysed_of(figures) != seen.get(name) and "result_age_ms" in figures:
                ages.append(float(figures["result_age_ms"]))
            seen[name] = analysed_of(figures)
    last = get_json(f"{base}/api/health")
    wall = time.monotonic() - t0
    if spy is not None:
        spy.wait(30)
    cpu1, threads1, host1 = pid_cpu_s(proc.pid), thread_cpu(proc.pid), host_ticks()
    groups: dict[str, float] = {}
    for tid, seconds in threads1.items():
        group = thread_group(names.get(tid)) if names else "all"
        groups[group] = groups.get(group, 0.0) + seconds - threads0.get(tid, 0.0)
    stages0 = first.get("analysis_stage_cpu_s", {})
    stages = {
        stage: seconds - stages0.get(stage, 0.0)
        for stage, seconds in last.get("analysis_stage_cpu_s", {}).items()
    }
    a0, a1 = first["camera_analysis"], last["camera_analysis"]
    return Run(
        SITEWATCH,
        variant.name,
        cameras,
        wall,
        cpu1 - cpu0,
        max(rss, default=math.nan),
        [(analysed_of(a1[c]) - analysed_of(a0[c])) / wall for c in a1],
        [(a1[c]["inferred"] - a0[c]["inferred"]) / wall for c in a1],
        ages,
        (host1[0] - host0[0]) / max(host1[1] - host0[1], 1),
        100 * (servers.cpu_s() - servers0) / wall,
        stages,
        groups,
        startup,
    )


def profile(
    pid: int, variant: Variant, cameras: int, options: Options
) -> subprocess.Popen[bytes] | None:
    """py-spy samples of every thread over the window (collapsed stacks under data/bench/)."""
    if not options.profile:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    out = (
        BENCH_DIR
        / f"profile-{variant.models}-{'gated' if variant.gating else 'ungated'}-{cameras}.txt"
    )
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "40",
            "--duration",
            str(int(options.seconds)),
            "--threads",
            "--nonblocking",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure_script(cameras: int, servers: ServerPool, options: Options) -> Run:
    """One window of the ultralytics streaming script."""
    with tempfile.TemporaryDirectory(prefix="bench-yolo-") as tmp:
        streams = Path(tmp) / "cameras.streams"
        streams.write_text("\n".join(servers.urls(cameras)) + "\n")
        env = {**os.environ, "YOLO_CONFIG_DIR": tmp, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"}
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                str(TRAIN_PYTHON),
                str(ROOT / "bench" / "yolo_streams.py"),
                "--model",
                str(MODEL),
                "--streams",
                str(streams),
                "--imgsz",
                "416",
                "--warmup-s",
                str(options.warmup_s),
                "--seconds",
                str(options.seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=tmp,
            env=env,
        )
        assert proc.stdout is not None
        try:
            line = proc.stdout.readline()  # the window starts
            if not line:
                raise RuntimeError("the ultralytics script ended before its window")
            startup = time.monotonic() - started - options.warmup_s
            cpu0, host0, servers0 = pid_cpu_s(proc.pid), host_ticks(), servers.cpu_s()
            rss: list[float] = []
            t0 = time.monotonic()
            result_line = ""
            while proc.poll() is None:
                rss.append(rss_of(proc.pid))
                cpu1, host1, servers1 = pid_cpu_s(proc.pid), host_ticks(), servers.cpu_s()
                wall = time.monotonic() - t0
                if wall >= options.seconds:
                    result_line = proc.stdout.readline()
                    break
                time.sleep(POLL_S)
            if not result_line:
                result_line = proc.stdout.read()
            result = json.loads(result_line.strip().splitlines()[-1])
        finally:
            proc.kill()
            proc.wait()
    counts = [c / result["window_s"] for c in result["inferences"]]
    return Run(
        SCRIPT,
        "ultralytics 416, vid_stride 12",
        cameras,
        wall,
        cpu1 - cpu0,
        max(rss, default=math.nan),
        counts,
        counts,
        result["ages_ms"],
        (host1[0] - host0[0]) / max(host1[1] - host0[1], 1),
        100 * (servers1 - servers0) / wall,
        startup_s=startup,
    )


# --------------------------------------------------------------------------- report


def row(run: Run) -> str:
    return (
        f"{run.cameras:>3} {run.system:<9} {run.variant:<31} "
        f"{100 * run.cpu_s / run.wall_s:6.0f}% {run.cpu_per_camera:6.1f}% {run.rss_mb:6.0f} "
        f"{min(run.analysed, default=math.nan):6.2f} {min(run.inferred, default=math.nan):6.2f} "
        f"{percentile(run.ages_ms, 50):6.0f} {percentile(run.ages_ms, 95):6.0f} "
        f"{run.starved:4d} {100 * run.host_busy:5.0f}% {run.servers_cpu:5.0f}%"
    )


HEADER = (
    "  N system    variant                           CPU  CPU/cam RSS MB "
    "an/s*  inf/s* age50  age95 strv  host  rtsp\n"
    "                                              total  (core)        "
    "(min over cameras)  (ms)         busy  srv"
)


def report_progress(run: Run) -> None:
    print("  " + row(run), flush=True)


def mean_run(runs: Sequence[Run]) -> Run:
    """Rounds of one (system, variant, N) merged: sums over windows, worst camera kept."""
    first = runs[0]
    wall = sum(r.wall_s for r in runs)
    cameras = len(first.analysed)
    return Run(
        first.system,
        first.variant,
        first.cameras,
        wall,
        sum(r.cpu_s for r in runs),
        max(r.rss_mb for r in runs),
        [sum(r.analysed[i] * r.wall_s for r in runs) / wall for i in range(cameras)],
        [sum(r.inferred[i] * r.wall_s for r in runs) / wall for i in range(cameras)],
        [a for r in runs for a in r.ages_ms],
        sum(r.host_busy * r.wall_s for r in runs) / wall,
        sum(r.servers_cpu * r.wall_s for r in runs) / wall,
        {k: sum(r.stages_s.get(k, 0.0) for r in runs) for k in first.stages_s},
        {k: sum(r.threads_s.get(k, 0.0) for r in runs) for k in first.threads_s},
    )


def print_report(runs: dict[tuple[str, str, int], list[Run]]) -> None:
    merged = {key: mean_run(value) for key, value in runs.items()}
    print("\nPer N and system (CPU in % of one core; an/s, inf/s: frames analysed and")
    print("inferred per second per camera, the minimum over cameras; strv: cameras under")
    print(f"{STARVED_SHARE:.0%} of {DETECT_FPS:g} fps; host busy: both cores, every process)")
    print(HEADER)
    for key in sorted(merged, key=lambda k: (k[2], k[0] != SITEWATCH, k[1])):
        print(row(merged[key]))
    print("\nRatios sitewatch / script (CPU per camera; CPU per inference):")
    for (system, variant, cameras), run in sorted(merged.items(), key=lambda kv: kv[0][2]):
        script = merged.get((SCRIPT, "ultralytics 416, vid_stride 12", cameras))
        if system != SITEWATCH or script is None:
            continue
        print(
            f"  N={cameras:<3} {variant:<31}"
            f" per camera {run.cpu_per_camera / script.cpu_per_camera:5.2f}"
            f"   per inference {run.cpu_per_inference_ms / script.cpu_per_inference_ms:5.2f}"
            f"  ({run.cpu_per_inference_ms:.0f} vs {script.cpu_per_inference_ms:.0f} ms CPU)"
        )
    for _key, run in sorted(merged.items(), key=lambda kv: (kv[0][2], kv[0][1])):
        if run.system != SITEWATCH or not (run.stages_s or run.threads_s):
            continue
        print(
            f"\nsitewatch CPU by stage, {run.variant}, N={run.cameras} (% of one core per camera):"
        )
        scale = 100 / run.wall_s / run.cameras
        for stage, seconds in sorted(run.stages_s.items(), key=lambda kv: -kv[1]):
            print(f"  analysis: {stage:<28} {seconds * scale:6.2f}%")
        for group, seconds in sorted(run.threads_s.items(), key=lambda kv: -kv[1]):
            print(f"  thread:   {group:<28} {seconds * scale:6.2f}%")


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    cameras: tuple[int, ...]
    seconds: float
    warmup_s: float
    rounds: int
    per_server: int
    study: int | None
    script: bool
    threads: bool
    keep_logs: bool
    profile: bool = False
    base: Path | None = None
    ort_threads: tuple[int, ...] = ()


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--cameras", type=int, nargs="+", default=[4, 8, 12, 16, 20])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured per run")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=1, help="A B rounds per N")
    parser.add_argument("--per-server", type=int, default=5, help="sessions per RTSP server")
    parser.add_argument("--study", type=int, default=12, help="N of the variant study (0: none)")
    parser.add_argument("--no-script", action="store_true", help="sitewatch only")
    parser.add_argument("--no-threads", action="store_true", help="no per-thread CPU (py-spy)")
    parser.add_argument("--keep-logs", action="store_true", help="copy logs to data/bench/")
    parser.add_argument("--profile", action="store_true", help="py-spy stacks to data/bench/")
    parser.add_argument(
        "--ort-threads",
        type=int,
        nargs="*",
        default=[],
        help="also run production with every model at these ONNX Runtime thread counts",
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="also run this checkout's sitewatch (e.g. a `git archive` of an older commit), "
        "production models, beside this one at every N",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 cameras, 6 s")
    args = parser.parse_args(argv)
    if args.quick:
        return Options((2,), 6.0, 4.0, 1, args.per_server, None, not args.no_script, True, True)
    return Options(
        tuple(args.cameras),
        args.seconds,
        args.warmup,
        args.rounds,
        args.per_server,
        args.study or None,
        not args.no_script,
        not args.no_threads,
        args.keep_logs,
        args.profile,
        args.base,
        tuple(args.ort_threads),
    )


def schedule(options: Options) -> Iterator[tuple[str, Variant | None, int]]:
    """(system, variant, N) in run order: A B, then B A in the next round."""
    for cameras in options.cameras:
        for round_index in range(options.rounds):
            pair: list[tuple[str, Variant | None]] = [(SITEWATCH, PRODUCTION)]
            for threads in options.ort_threads:
                named = f"production, {threads} ORT thread{'s' if threads > 1 else ''}"
                pair.append((SITEWATCH, replace(PRODUCTION, name=named, threads=threads)))
            if options.base is not None:
                before = Variant(f"production, {options.base.name}", "production")
                pair.append((SITEWATCH, replace(before, root=options.base.resolve())))
            if options.script:
                pair.append((SCRIPT, None))
            for system, variant in pair if round_index % 2 == 0 else pair[::-1]:
                yield system, variant, cameras
    if options.study is not None:
        for round_index in range(options.rounds):
            for variant in STUDY:
                yield SITEWATCH, variant, options.study
            if round_index == 0 and options.study not in options.cameras:
                yield SITEWATCH, PRODUCTION, options.study
                if options.script:
                    yield SCRIPT, None, options.study


def prepare_media() -> Path:
    media_dir = BENCH_DIR / "media"
    ensure_scene(media_dir / CLIP, SPEC)
    ensure_scene(media_dir / SUB_CLIP, SUB_SPEC)
    return media_dir


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    media_dir = prepare_media()
    sessions = max([*options.cameras, options.study or 0]) * 2  # substreams record the main
    servers = math.ceil(sessions / options.per_server)
    print(
        f"{servers} RTSP servers, {options.warmup_s:g} s warm-up, {options.seconds:g} s measured"
        f" per run, {options.rounds} round(s), {os.cpu_count()} cores, load before start"
        f" {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: dict[tuple[str, str, int], list[Run]] = {}
    with ExitStack() as stack:
        pool = stack.enter_context(ServerPool(media_dir, servers))
        broker = stack.enter_context(
            mosquitto(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mqtt-"))))
        )
        for system, variant, cameras in schedule(options):
            label = variant.name if variant else "ultralytics"
            print(f"  {system} / {label} x {cameras} cameras ...", flush=True)
            try:
                if variant is None:
                    run = measure_script(cameras, pool, options)
                else:
                    run = measure_sitewatch(variant, cameras, pool, broker, options)
            except (RuntimeError, OSError, ValueError) as error:
                print(f"    failed: {error}", flush=True)
                continue
            report_progress(run)
            runs.setdefault((run.system, run.variant, cameras), []).append(run)
    print_report(runs)


if __name__ == "__main__":
    main()
