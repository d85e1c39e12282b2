"""Memory of a long ``sitewatch run``: RSS sampled over time, its slope and its peak.

N cameras of 720p25 H.264 (~2.4 Mbit/s) from local RTSP servers and the real ``sitewatch run``
with the production configuration's models (or the 416 px pass alone), as in
``bench.pipeline`` (same servers, site configuration and process start). After a warm-up it
samples the process every ``--interval`` seconds: RSS, CPU over the last interval (% of one
core) and frames analysed per second per camera (the minimum over cameras). At the end it prints
the series, the slope of RSS in MB/min (least squares over the samples taken after
``--fit-after`` minutes, counted from the moment every camera is analysed) and the peak, and
writes the series as JSON under data/bench/.

Run: .venv/bin/python -m bench.memory_growth [--cameras 8] [--minutes 30] [--interval 30]
     [--warmup 60] [--fit-after 5] [--models production|416] [--env NAME=VALUE ...] [--base DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bench.ingest import BENCH_DIR, ServerPool
from bench.pipeline import (
    PASS_416,
    PRODUCTION,
    analysed_of,
    get_json,
    prepare_media,
    rss_of,
    running_sitewatch,
)
from bench.proc import pid_cpu_s
from tests.servers import mosquitto

PER_SERVER = 5  # sessions per RTSP server (one streams about 6 on 2 cores)


@dataclass(frozen=True)
class Sample:
    """The process at one moment."""

    minute: float  # since every camera was analysed
    rss_mb: float
    cpu_percent: float  # over the interval before this sample, % of one core
    analysed_min: float  # frames analysed per second over the interval, slowest camera


@dataclass(frozen=True)
class Growth:
    """What a series says."""

    slope_mb_per_min: float
    peak_mb: float
    fitted: int  # samples in the fit


def growth_of(samples: Sequence[Sample], fit_after_min: float) -> Growth:
    """Least-squares slope of RSS over the samples from ``fit_after_min`` on, and the peak."""
    fitted = [s for s in samples if s.minute >= fit_after_min]
    if len(fitted) < 2:
        slope = math.nan
    else:
        minutes = np.array([s.minute for s in fitted])
        rss = np.array([s.rss_mb for s in fitted])
        slope = float(np.polyfit(minutes, rss, 1)[0])
    return Growth(slope, max((s.rss_mb for s in samples), default=math.nan), len(fitted))


def analysed_counts(base: str) -> dict[str, int]:
    return {
        name: analysed_of(figures)
        for name, figures in get_json(f"{base}/api/health")["camera_analysis"].items()
    }


@dataclass(frozen=True)
class Options:
    cameras: int
    minutes: float
    interval_s: float
    warmup_s: float
    fit_after_min: float
    models: str
    env: dict[str, str]
    base: Path | None = None
    label: str = ""


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_growth", description=__doc__)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=30.0, help="sampled after the warm-up")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before sampling")
    parser.add_argument(
        "--fit-after", type=float, default=5.0, help="minutes left out of the slope"
    )
    parser.add_argument("--models", choices=("production", "416"), default="production")
    parser.add_argument(
        "--env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="environment of the sitewatch process (e.g. MALLOC_ARENA_MAX=2)",
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="run this checkout's sitewatch instead (e.g. a `git archive` of an older commit)",
    )
    parser.add_argument("--label", default="", help="suffix of the log and JSON file names")
    args = parser.parse_args(argv)
    env: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env takes NAME=VALUE, got {item!r}")
        env[name] = value
    return Options(
        args.cameras,
        args.minutes,
        args.interval,
        args.warmup,
        args.fit_after,
        args.models,
        env,
        args.base,
        f"-{args.label}" if args.label else "",
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    variant = PRODUCTION if options.models == "production" else PASS_416
    if options.base is not None:
        variant = replace(variant, root=options.base.resolve())
    media_dir = prepare_media()
    servers = math.ceil(options.cameras / PER_SERVER)
    print(
        f"{options.cameras} cameras, {variant.name} models, {servers} RTSP servers, "
        f"{options.warmup_s:g} s warm-up, {options.minutes:g} min sampled every "
        f"{options.interval_s:g} s, {os.cpu_count()} cores, load before start "
        f"{os.getloadavg()[0]:.2f}, env {options.env or '-'}, "
        f"code {variant.root or 'this checkout'}",
        flush=True,
    )
    samples: list[Sample] = []
    label = f"memory-growth-{options.models}-{options.cameras}{options.label}"
    with ExitStack() as stack:
        pool = stack.enter_context(ServerPool(media_dir, servers))
        mqtt_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mqtt-")))
        broker = stack.enter_context(mosquitto(mqtt_dir))
        running = stack.enter_context(
            running_sitewatch(
                variant,
                options.cameras,
                pool,
                broker,
                keep_log=BENCH_DIR / f"{label}.log",
                env=options.env,
            )
        )
        pid = running.proc.pid
        ready = time.monotonic()  # every camera analysed from here on
        print(f"every camera analysed after {running.startup_s:.0f} s", flush=True)
        time.sleep(options.warmup_s)
        cpu0, counts0, t0 = pid_cpu_s(pid), analysed_counts(running.base), time.monotonic()
        print("  minute  RSS MB   CPU %  analysed/s (slowest camera)", flush=True)
        end = t0 + 60 * options.minutes
        while time.monotonic() < end:
            time.sleep(options.interval_s)
            if running.proc.poll() is not None:
                raise RuntimeError(f"sitewatch exited with {running.proc.returncode}")
            cpu1, counts1, t1 = pid_cpu_s(pid), analysed_counts(running.base), time.monotonic()
            sample = Sample(
                minute=(t1 - ready) / 60,
                rss_mb=rss_of(pid),
                cpu_percent=100 * (cpu1 - cpu0) / (t1 - t0),
                analysed_min=min(
                    ((counts1[c] - counts0.get(c, 0)) / (t1 - t0) for c in counts1),
                    default=math.nan,
                ),
            )
            samples.append(sample)
            print(
                f"  {sample.minute:6.1f} {sample.rss_mb:7.1f} {sample.cpu_percent:7.1f}"
                f" {sample.analysed_min:8.2f}",
                flush=True,
            )
            cpu0, counts0, t0 = cpu1, counts1, t1
    growth = growth_of(samples, options.fit_after_min)
    print(
        f"\nRSS slope {growth.slope_mb_per_min:+.3f} MB/min (least squares over {growth.fitted}"
        f" samples from minute {options.fit_after_min:g}), peak {growth.peak_mb:.0f} MB,"
        f" first {samples[0].rss_mb if samples else math.nan:.0f} MB,"
        f" mean CPU {np.mean([s.cpu_percent for s in samples]) if samples else math.nan:.0f} %",
        flush=True,
    )
    out = BENCH_DIR / f"{label}.json"
    out.write_text(
        json.dumps(
            {
                "options": asdict(options),
                "samples": [asdict(s) for s in samples],
                "growth": asdict(growth),
            },
            indent=1,
            default=str,
        )
    )
    print(f"series written to {out}")


if __name__ == "__main__":
    main()
