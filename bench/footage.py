"""Footage benchmark: sitewatch on real video clips, through the production replay path.

Measures, on the clips of ``../shared/footage`` (or ``--footage DIR``: clips plus an
``expectations.json`` of the same format; SOURCES.md there says where each clip comes from),
what a customer would see:

- clips without fire or smoke (``flame: false``): false flame incidents, the seconds an alert
  for them stays open (up to the end of the video), and false flame alerts per camera-hour;
- clips with fire or smoke (``flame: true``; they show it from the start): alerted or not, and
  the video seconds to the first flame alert;
- clips with bare heads (``bare_heads: true``): a missing-hard-hat alert or not; clips where
  everyone wears a hard hat (``bare_heads: false``): false missing-hard-hat alerts;
- the share of hazard-free frames (every decoded frame of each ``flame: false`` clip, original
  and un-looped) holding a fire or smoke box at or above the flame rule's threshold, after each
  model entry's ``use_classes`` / ``class_confidence`` as in production (``--no-frames`` skips
  this pass); also the share where such a box is big enough for the rule
  (``min_area_fraction``).

Each clip runs through ``sitewatch.replay.replay`` as one camera with no zones (the whole frame
is watched), every rule on, with the models and rules of ``--config`` (default
``config/site-example.yaml``, loaded with the project's loader; motion gating as it says;
``detect_fps`` 2 as ``bench.rules_eval.site_config``); ``--model`` runs another ONNX file in
every model entry. Clips shorter than ``MIN_SECONDS`` are looped forward then backward (an even
number of legs, so the video ends where it started) into a derived camera-like H.264 MP4 (no
B-frames, a keyframe every second: ``sitewatch.demo.video_file``) at the clip's own frame rate
and size (the longest side capped at ``MAX_SIDE``); GIFs and oversized clips are re-encoded the
same way. Derived videos are cached under ``data/bench/footage/`` by the clip's SHA-256 and the
encoder settings; footage is never copied into the repository.

Clip ``use``: ``eval`` clips are the benchmark (never train or tune on them); ``train`` clips may
be mined and tuned on (``--use train``). Figures only, no assertions.

Run: .venv/bin/python -m bench.footage [--footage DIR] [--json OUT] [--all | --use train]
     [--config PATH] [--model PATH] [--clips NAME ...] [--no-frames] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
import yaml

from bench.rules_eval import log, site_config
from core.config_files import ConfigError
from detect.detections import Detections
from detect.flame_evidence import FlameEvidence
from detect.inference import DetectorStage
from detect.model_format import ModelFormat
from detect.model_probe import describe_model
from sitewatch.config.loader import load_config
from sitewatch.config.rules import FlameRule
from sitewatch.config.site import SiteConfig
from sitewatch.demo.video_file import ENCODING, write_camera_video
from sitewatch.pipeline import merged
from sitewatch.replay import Incident, ReplayError, ReplayResult, replay
from sitewatch.rule_setup import evidence_params
from sitewatch.runner import StartupError, load_detectors

Image = npt.NDArray[np.uint8]
Log = Callable[[str], None]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FOOTAGE = REPO.parent / "shared" / "footage"
DEFAULT_CONFIG = REPO / "config" / "site-example.yaml"
CACHE = REPO / "data" / "bench" / "footage"
EXPECTATIONS = "expectations.json"

MIN_SECONDS = 20.0  # shorter clips are looped (ping-pong) to at least this
MAX_SIDE = 1280  # longest side of the replayed video
CRF = 23
DERIVE_VERSION = 1  # bump when the derived videos change
MAX_RATE_DENOMINATOR = 1001  # 30000/1001 stays exact; odd measured rates are rounded near it
FRAME_BATCH = 4  # frames per detector call in the per-frame pass
BENCH_DETECT_FPS = 2  # the camera's detect_fps (bench.rules_eval.site_config)
FLAME, HARDHAT = "flame", "missing_hardhat"
USES = ("eval", "train")


class FootageError(RuntimeError):
    """The benchmark cannot run; the message says why."""


# --------------------------------------------------------------------------- clips


@dataclass(frozen=True, slots=True)
class Clip:
    """One entry of ``expectations.json``."""

    name: str
    use: str
    flame: bool
    bare_heads: bool | None
    listed_s: float
    path: Path


def load_clips(footage_dir: Path) -> list[Clip]:
    """Every clip that ``footage_dir/expectations.json`` lists, in its order."""
    listing = footage_dir / EXPECTATIONS
    if not listing.is_file():
        raise FootageError(f"no {EXPECTATIONS} in {footage_dir}")
    entries = json.loads(listing.read_text(encoding="utf-8"))
    return [
        Clip(
            name=str(entry["name"]),
            use=str(entry["use"]),
            flame=bool(entry["flame"]),
            bare_heads=None if entry.get("bare_heads") is None else bool(entry["bare_heads"]),
            listed_s=float(entry.get("seconds") or 0.0),
            path=footage_dir / str(entry["name"]),
        )
        for entry in entries
    ]


def select_clips(
    clips: Sequence[Clip], names: Sequence[str] | None = None, use: str | None = "eval"
) -> list[Clip]:
    """The clips named (in the listing's order), else those of ``use`` (``None``: all)."""
    if names:
        known = {clip.name for clip in clips}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise FootageError(
                f"not in {EXPECTATIONS}: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return [clip for clip in clips if clip.name in names]
    return [clip for clip in clips if use is None or clip.use == use]


# --------------------------------------------------------------------------- derived videos


def loop_legs(frames: int, rate: Fraction, min_s: float = MIN_SECONDS) -> int:
    """How many times a clip of ``frames`` at ``rate`` is played, alternately forward and
    backward, to last ``min_s``: 1 when it already does, else an even number (the loop ends on
    the first frame, so the whole video reads the same backwards)."""
    seconds = frames / rate
    if frames == 0 or seconds >= min_s:
        return 1
    return 2 * math.ceil(min_s / (2 * float(seconds)))


def pingpong_order(count: int, legs: int) -> list[int]:
    """Frame indices of ``legs`` plays of ``count`` frames: forward, backward, forward..."""
    forward = list(range(count))
    return [i for leg in range(legs) for i in (forward if leg % 2 == 0 else forward[::-1])]


def fitted_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(width, height) with the longest side capped at ``max_side``, both even (H.264 4:2:0)."""
    scale = min(1.0, max_side / max(width, height))
    return (max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2))


@dataclass(frozen=True, slots=True)
class VideoFacts:
    """What the container says about a clip's video."""

    width: int
    height: int
    rate: Fraction
    duration_s: float | None


def probe(path: Path) -> VideoFacts:
    """Size, frame rate and duration of ``path``'s first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        return VideoFacts(
            stream.codec_context.width,
            stream.codec_context.height,
            Fraction(rate).limit_denominator(MAX_RATE_DENOMINATOR),
            duration,
        )


def decode_frames(path: Path, size: tuple[int, int]) -> Iterator[Image]:
    """Every frame of ``path`` in display order, BGR, resized to ``size`` (width, height)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            image = np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
            if (image.shape[1], image.shape[0]) != size:
                image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
            yield image


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def derive_key(clip_sha256: str) -> str:
    """Cache key of a derived video: the clip's bytes and every setting that shapes it."""
    recipe = {
        "clip": clip_sha256,
        "version": DERIVE_VERSION,
        "encoding": ENCODING,
        "crf": CRF,
        "min_s": MIN_SECONDS,
        "max_side": MAX_SIDE,
        "rate_denominator": MAX_RATE_DENOMINATOR,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Prepared:
    """The video a clip is replayed from."""

    video: Path
    derived: bool
    legs: int  # plays of the clip (1: not looped)
    size: tuple[int, int]
    rate: Fraction


def needs_derived(clip: Clip, facts: VideoFacts) -> bool:
    """GIFs, clips shorter than MIN_SECONDS and clips larger than MAX_SIDE are re-encoded."""
    short = facts.duration_s is None or facts.duration_s < MIN_SECONDS
    oversized = fitted_size(facts.width, facts.height) != (facts.width, facts.height)
    return clip.path.suffix.lower() != ".mp4" or short or oversized


def prepare(clip: Clip, cache_dir: Path = CACHE, say: Log = log) -> Prepared:
    """The original clip when it can be replayed as it is, else its derived video (cached)."""
    facts = probe(clip.path)
    size = fitted_size(facts.width, facts.height)
    if not needs_derived(clip, facts):
        return Prepared(clip.path, False, 1, size, facts.rate)
    video = cache_dir / f"{clip.path.stem}-{derive_key(file_sha256(clip.path))}.mp4"
    recipe = video.with_suffix(".json")  # written after the video: both there = complete
    if video.is_file() and recipe.is_file():
        legs = int(json.loads(recipe.read_text(encoding="utf-8"))["legs"])
        return Prepared(video, True, legs, size, facts.rate)
    frames = list(decode_frames(clip.path, size))
    legs = loop_legs(len(frames), facts.rate)
    seconds = float(len(frames) * legs / facts.rate)
    say(f"  writing {video.name}: {legs} legs, {seconds:.1f} s at {facts.rate} fps")
    ordered = (frames[i] for i in pingpong_order(len(frames), legs))
    write_camera_video(video, ordered, facts.rate, size, crf=CRF)
    facts_out = {"clip": clip.name, "frames": len(frames), "legs": legs, "seconds": seconds}
    recipe.write_text(json.dumps({**facts_out, "rate": str(facts.rate), "size": size}) + "\n")
    return Prepared(video, True, legs, size, facts.rate)


# --------------------------------------------------------------------------- measurement


def open_seconds(incidents: Iterable[Incident], hazard: str, end_s: float) -> float:
    """Seconds of video under at least one incident of ``hazard`` (an incident still open at
    the end counts up to ``end_s``)."""
    spans = sorted(
        (i.start_s, end_s if i.end_s is None else min(i.end_s, end_s))
        for i in incidents
        if i.hazard == hazard
    )
    total, reached = 0.0, -math.inf
    for start, end in spans:
        begin = max(start, reached)
        if end > begin:
            total += end - begin
            reached = end
    return round(total, 2)


def per_hour(count: int, seconds: float) -> float | None:
    """``count`` events over ``seconds`` of footage, per hour (``None`` without footage)."""
    return count / (seconds / 3600) if seconds > 0 else None


def first_start(incidents: Iterable[Incident], hazard: str) -> float | None:
    """Video seconds at which the first incident of ``hazard`` started."""
    return min((i.start_s for i in incidents if i.hazard == hazard), default=None)


@dataclass(frozen=True, slots=True)
class FrameTally:
    """Frames of a clip holding fire or smoke boxes at the flame rule's thresholds."""

    frames: int
    flame_box_frames: int  # a fire or smoke box at or above its threshold
    sized_flame_box_frames: int  # ... that is also at least min_area_fraction of the frame
    living_flame_box_frames: int = 0  # ... that also lives (the rule's temporal evidence)


def flame_boxes(
    found: Detections, flame: FlameRule, frame_area: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per row: a fire or smoke box at its threshold; one that is also big enough for the rule."""
    labels = np.asarray(found.labels, dtype=object)
    threshold = np.where(labels == "fire", flame.fire_threshold, flame.smoke_threshold)
    hit = np.isin(labels, ["fire", "smoke"]) & (found.confidence >= threshold)
    sized = hit & (found.area >= flame.min_area_fraction * frame_area)
    return np.asarray(hit, np.bool_), np.asarray(sized, np.bool_)


def count_flame_frames(
    stage: DetectorStage,
    frames: Iterable[Image],
    flame: FlameRule,
    step: int = 1,
    batch: int = FRAME_BATCH,
) -> FrameTally:
    """Run ``stage`` on every frame (batched as if each were a camera) and count the frames
    with fire or smoke boxes after the models' merge, as the rules receive them; and those
    whose box lives by the rule's temporal evidence, each frame compared with the one ``step``
    frames (one sampling period) before it, as the rule compares its sampled frames."""
    total = hits = sized = living = 0
    pending: list[tuple[int, Image]] = []
    params = evidence_params(flame)
    checks = [FlameEvidence(params) for _ in range(step)] if params is not None else []
    period = 1.0 / BENCH_DETECT_FPS

    def flush() -> None:
        nonlocal hits, sized, living
        found = merged(stage.run({str(n): image for n, image in pending}))
        for number, image in pending:
            detections = found[str(number)]
            hit, big = flame_boxes(detections, flame, float(image.shape[0] * image.shape[1]))
            hits += bool(hit.any())
            sized += bool(big.any())
            if checks:
                check = checks[number % step]
                verdict = check.check(image, detections[big], (number // step) * period)
                living += bool(verdict.alive.any())
        pending.clear()

    for image in frames:
        pending.append((total, image))
        total += 1
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    return FrameTally(total, hits, sized, living)


# --------------------------------------------------------------------------- configuration


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` over ``base``, section by section."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def bench_config(
    workdir: Path,
    config_path: Path,
    model_override: Path | None,
    rule_overrides: Mapping[str, Any] | None = None,
) -> SiteConfig:
    """One camera without zones, with the models and rules of ``config_path`` (loaded with the
    project's loader; ``rule_overrides`` deep-merged over its rules), every model entry running
    ``model_override`` when given."""
    source = load_config(config_path, read_model=describe_model)
    model = model_override
    if model is None:
        paths = {entry.path for entry in source.models if entry.format is ModelFormat.ULTRALYTICS}
        if len(paths) != 1:
            found = ", ".join(str(p) for p in sorted(paths)) or "none"
            raise FootageError(f"{config_path}: models use {found}; pass --model")
        model = paths.pop()
    if not model.is_file():
        raise FootageError(f"no model at {model}")
    rules = _merge(source.rules.model_dump(mode="json"), rule_overrides or {})
    return site_config(workdir, model.resolve(), rules, models_from=config_path)


def git_commit() -> str | None:
    """The repository's commit (``+dirty`` with uncommitted changes), or None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if changes else "")


# --------------------------------------------------------------------------- results


@dataclass
class ClipResult:
    """One clip replayed (``error`` set, figures empty, when it could not be)."""

    name: str
    use: str
    flame: bool
    bare_heads: bool | None
    video: str = ""
    derived: bool = False
    legs: int = 1
    size: tuple[int, int] = (0, 0)
    fps: float = 0.0
    replayed_s: float = 0.0
    decoded_frames: int = 0
    sampled: int = 0
    inferred: int = 0
    gated: int = 0
    replay_wall_s: float = 0.0
    flame_incidents: int = 0
    flame_alert_s: float = 0.0
    first_flame_s: float | None = None
    hardhat_incidents: int = 0
    first_hardhat_s: float | None = None
    incidents: list[Incident] = field(default_factory=list)
    frame_pass: FrameTally | None = None  # every frame of the original clip
    derived_frame_pass: FrameTally | None = None  # the same frames as re-encoded and replayed
    error: str | None = None

    @property
    def replayed_frame_pass(self) -> FrameTally | None:
        """The frame pass over the frames as replayed (re-encoded when derived)."""
        return self.derived_frame_pass if self.derived else self.frame_pass

    @property
    def verdict(self) -> str:
        """What went wrong on this clip, in words ("ok" when nothing did)."""
        if self.error is not None:
            return "ERROR"
        problems = []
        if not self.flame and self.flame_incidents:
            problems.append("false flame")
        if self.flame and not self.flame_incidents:
            problems.append("flame missed")
        if self.bare_heads is True and not self.hardhat_incidents:
            problems.append("bare heads missed")
        if self.bare_heads is False and self.hardhat_incidents:
            problems.append("false hard hat")
        return ", ".join(problems) or "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        data["incidents"] = [incident.to_dict() for incident in self.incidents]
        data["verdict"] = self.verdict
        return data


@dataclass(frozen=True, slots=True)
class Totals:
    """The figures over every clip that ran."""

    clips: int
    failed: tuple[str, ...]
    hazard_free_clips: int
    hazard_free_hours: float
    false_flame_incidents: int
    false_flame_seconds: float
    false_flame_per_hour: float | None
    flame_clips: int
    flame_alerted: int
    median_time_to_flame_s: float | None
    bare_head_clips: int
    hardhat_alerted: int
    hardhat_clips: int  # bare_heads false: everyone wears a hard hat, or nobody is there
    false_hardhat: int
    hazard_free_frames: int
    hazard_free_frames_with_flame_box: int
    flame_box_frame_share: float | None
    hazard_free_frames_with_sized_flame_box: int
    sized_flame_box_frame_share: float | None
    hazard_free_frames_with_living_flame_box: int  # ... a box that also lives (the rule counts)
    living_flame_box_frame_share: float | None
    replayed_frames_with_flame_box: int  # the same frames as replayed (re-encoded when derived)
    replayed_flame_box_frame_share: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        data["failed"] = list(self.failed)
        return data


def totals(results: Sequence[ClipResult]) -> Totals:
    """Sum the clips up (clips with an error are only listed)."""
    ran = [r for r in results if r.error is None]
    free = [r for r in ran if not r.flame]
    flames = [r for r in ran if r.flame]
    bare = [r for r in ran if r.bare_heads is True]
    hatted = [r for r in ran if r.bare_heads is False]
    free_s = sum(r.replayed_s for r in free)
    false_flames = sum(r.flame_incidents for r in free)
    delays = [r.first_flame_s for r in flames if r.first_flame_s is not None]
    passes = [r.frame_pass for r in free if r.frame_pass is not None]
    frames = sum(p.frames for p in passes)
    boxed = sum(p.flame_box_frames for p in passes)
    sized = sum(p.sized_flame_box_frames for p in passes)
    living = sum(p.living_flame_box_frames for p in passes)
    replayed = [r.replayed_frame_pass for r in free if r.replayed_frame_pass is not None]
    replayed_frames = sum(p.frames for p in replayed)
    replayed_boxed = sum(p.flame_box_frames for p in replayed)
    return Totals(
        clips=len(ran),
        failed=tuple(r.name for r in results if r.error is not None),
        hazard_free_clips=len(free),
        hazard_free_hours=round(free_s / 3600, 4),
        false_flame_incidents=false_flames,
        false_flame_seconds=round(sum(r.flame_alert_s for r in free), 2),
        false_flame_per_hour=per_hour(false_flames, free_s),
        flame_clips=len(flames),
        flame_alerted=len(delays),
        median_time_to_flame_s=statistics.median(delays) if delays else None,
        bare_head_clips=len(bare),
        hardhat_alerted=sum(1 for r in bare if r.hardhat_incidents),
        hardhat_clips=len(hatted),
        false_hardhat=sum(r.hardhat_incidents for r in hatted),
        hazard_free_frames=frames,
        hazard_free_frames_with_flame_box=boxed,
        flame_box_frame_share=boxed / frames if frames else None,
        hazard_free_frames_with_sized_flame_box=sized,
        sized_flame_box_frame_share=sized / frames if frames else None,
        hazard_free_frames_with_living_flame_box=living,
        living_flame_box_frame_share=living / frames if frames else None,
        replayed_frames_with_flame_box=replayed_boxed,
        replayed_flame_box_frame_share=(
            replayed_boxed / replayed_frames if replayed_frames else None
        ),
    )


@dataclass
class FootageReport:
    """One benchmark run."""

    footage: str
    config: str
    models: list[dict[str, Any]]
    rules: dict[str, Any]
    commit: str | None
    clips: list[ClipResult]
    totals: Totals
    frames: bool
    wall_s: float
    inferences: dict[str, dict[str, int]] = field(default_factory=dict)  # model: frames, skipped

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "footage": self.footage,
            "config": self.config,
            "models": self.models,
            "rules": self.rules,
            "commit": self.commit,
            "settings": {
                "min_seconds": MIN_SECONDS,
                "max_side": MAX_SIDE,
                "encoding": ENCODING,
                "crf": CRF,
                "derive_version": DERIVE_VERSION,
                "frame_pass": self.frames,
            },
            "wall_s": self.wall_s,
            "clips": [clip.to_dict() for clip in self.clips],
            "totals": self.totals.to_dict(),
            "inferences": self.inferences,
        }


# --------------------------------------------------------------------------- the run


def _replay_progress(name: str) -> Callable[[float, float | None], None]:
    if not sys.stderr.isatty():
        return lambda _done, _duration: None
    shown = [-1.0]

    def show(done: float, duration: float | None) -> None:
        if done - shown[0] >= 1.0:
            shown[0] = done
            of = f"/{duration:.0f}" if duration else ""
            print(f"\r  replaying {name}: {done:.0f}{of} s", end="", file=sys.stderr, flush=True)

    return show


def _fill_replay(result: ClipResult, replayed: ReplayResult) -> None:
    incidents = replayed.incidents
    result.replayed_s = replayed.duration_s
    result.decoded_frames = replayed.frames
    result.sampled, result.inferred, result.gated = (
        replayed.sampled,
        replayed.inferred,
        replayed.gated,
    )
    result.replay_wall_s = replayed.seconds
    result.incidents = incidents
    result.flame_incidents = sum(1 for i in incidents if i.hazard == FLAME)
    result.flame_alert_s = open_seconds(incidents, FLAME, replayed.duration_s)
    result.first_flame_s = first_start(incidents, FLAME)
    result.hardhat_incidents = sum(1 for i in incidents if i.hazard == HARDHAT)
    result.first_hardhat_s = first_start(incidents, HARDHAT)


def run_clip(
    clip: Clip,
    config: SiteConfig,
    stage: DetectorStage,
    frames: bool = True,
    cache_dir: Path = CACHE,
    say: Log = log,
) -> ClipResult:
    """Replay one clip (its derived video when needed) and, on a hazard-free clip with
    ``frames``, count the original's frames with flame boxes."""
    result = ClipResult(clip.name, clip.use, clip.flame, clip.bare_heads)
    try:
        if not clip.path.is_file():
            raise FootageError(f"{clip.path} not found")
        prepared = prepare(clip, cache_dir, say)
        result.video, result.derived, result.legs = (
            str(prepared.video),
            prepared.derived,
            prepared.legs,
        )
        result.size, result.fps = prepared.size, round(float(prepared.rate), 3)
        progress = _replay_progress(clip.name)
        _fill_replay(result, replay(config, prepared.video, None, stage, progress=progress))
        if sys.stderr.isatty():
            print(file=sys.stderr)
        if frames and not clip.flame:
            say(f"  detector on every frame of {clip.name}")
            flame = config.rules.flame
            images = decode_frames(clip.path, prepared.size)
            step = max(1, round(float(prepared.rate) / BENCH_DETECT_FPS))
            original = count_flame_frames(stage, images, flame, step)
            result.frame_pass = original
            if prepared.derived:
                replayed = decode_frames(prepared.video, prepared.size)
                first_leg = islice(replayed, original.frames)
                result.derived_frame_pass = count_flame_frames(stage, first_leg, flame, step)
    except (FootageError, ReplayError, av.FFmpegError, OSError, IndexError) as error:
        result.error = f"{type(error).__name__}: {error}"
        say(f"  {clip.name}: {result.error}")
    return result


def run_benchmark(
    footage_dir: Path,
    clips: Sequence[str] | None,
    config_path: Path = DEFAULT_CONFIG,
    model_override: Path | None = None,
    frames: bool = True,
    *,
    use: str | None = "eval",
    rule_overrides: Mapping[str, Any] | None = None,
    cache_dir: Path = CACHE,
    say: Log = log,
) -> FootageReport:
    """Replay the clips named in ``clips`` (``None``: every clip of ``use``; ``use=None``: all)
    of ``footage_dir`` with the models and rules of ``config_path`` (``rule_overrides`` merged
    over its rules, e.g. ``{"flame": {"fire_threshold": 0.1}}``), and sum them up."""
    started, commit = time.monotonic(), git_commit()  # the code that runs, read before it does
    chosen = select_clips(load_clips(footage_dir), clips, use)
    if not chosen:
        raise FootageError(f"no clips selected in {footage_dir}")
    with tempfile.TemporaryDirectory(prefix="footage-bench-") as tmp:
        config = bench_config(Path(tmp), config_path.resolve(), model_override, rule_overrides)
        stage = load_detectors(config)
        if stage is None:
            raise FootageError(f"{config_path}: no detector model")
        results = []
        for index, clip in enumerate(chosen, 1):
            say(f"[{index}/{len(chosen)}] {clip.name}")
            results.append(run_clip(clip, config, stage, frames, cache_dir, say))
    return FootageReport(
        footage=str(footage_dir),
        config=str(config_path),
        models=[
            {**m.model_dump(mode="json"), "sha256": file_sha256(m.path)} for m in config.models
        ],
        rules=config.rules.model_dump(mode="json"),
        commit=commit,
        clips=results,
        totals=totals(results),
        frames=frames,
        wall_s=round(time.monotonic() - started, 1),
        inferences={
            name: {"frames": stats.frames, "skipped": stats.skipped}
            for name, stats in stage.stats.items()
        },
    )


# --------------------------------------------------------------------------- output


def _num(value: float | None, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def clip_table(results: Sequence[ClipResult]) -> list[str]:
    """One line per clip (boxed: frames with a fire or smoke box at threshold, of the original
    clip; as replayed: of the same frames re-encoded, for derived videos)."""
    header = (
        f"{'clip':<40} {'use':<5} {'flame':>5} {'bare':>4} {'video':>7} {'flame#':>6} "
        f"{'alert s':>7} {'first':>6} {'hat#':>4} {'frames':>6} {'boxed':>6} {'replayed':>8}"
        "  verdict"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        fp, rp = r.frame_pass, r.replayed_frame_pass
        lines.append(
            f"{r.name:<40} {r.use:<5} {_yes_no(r.flame):>5} {_yes_no(r.bare_heads):>4} "
            f"{_num(r.replayed_s, 1, ' s'):>7} {r.flame_incidents:>6} "
            f"{_num(r.flame_alert_s, 1):>7} {_num(r.first_flame_s, 1):>6} "
            f"{r.hardhat_incidents:>4} {fp.frames if fp else '-':>6} "
            f"{fp.flame_box_frames if fp else '-':>6} {rp.flame_box_frames if rp else '-':>8}"
            f"  {r.verdict}"
        )
    return lines


def totals_lines(t: Totals) -> list[str]:
    """The totals, one figure per line."""
    return [
        f"clips replayed: {t.clips}" + (f" (failed: {', '.join(t.failed)})" if t.failed else ""),
        f"hazard-free clips (flame: false): {t.hazard_free_clips}, "
        f"{t.hazard_free_hours * 60:.1f} min replayed",
        f"  false flame incidents: {t.false_flame_incidents}, open for "
        f"{t.false_flame_seconds:.1f} s; per camera-hour: {_num(t.false_flame_per_hour, 1)}",
        f"  frames with a fire/smoke box at threshold: {t.hazard_free_frames_with_flame_box} of "
        f"{t.hazard_free_frames} ({_share(t.flame_box_frame_share)}); big enough for the rule: "
        f"{t.hazard_free_frames_with_sized_flame_box} ({_share(t.sized_flame_box_frame_share)})"
        f"; and living (what the rule counts): {t.hazard_free_frames_with_living_flame_box} "
        f"({_share(t.living_flame_box_frame_share)}); the same frames as replayed "
        f"(re-encoded): {t.replayed_frames_with_flame_box} "
        f"({_share(t.replayed_flame_box_frame_share)})",
        f"flame clips: {t.flame_clips}, alerted {t.flame_alerted}; median time to the first "
        f"alert {_num(t.median_time_to_flame_s, 1, ' s')}",
        f"bare-head clips: {t.bare_head_clips}, missing-hard-hat alerted {t.hardhat_alerted}",
        f"hard-hat clips (bare_heads: false): {t.hardhat_clips}, false missing-hard-hat "
        f"alerts {t.false_hardhat}",
    ]


def print_report(report: FootageReport) -> None:
    """The clip table and the totals, on stdout."""
    models = ", ".join(
        f"{m['name']} ({Path(m['path']).name} @ {m['input_size'] or 'exported size'})"
        for m in report.models
    )
    print(f"footage {report.footage}; config {report.config}; models {models}")
    print(f"commit {report.commit}; every rule on, no zones, motion gating as configured")
    print()
    for line in clip_table(report.clips):
        print(line)
    print()
    for line in totals_lines(report.totals):
        print(line)
    for name, counts in report.inferences.items():
        looked = counts["frames"] + counts["skipped"]
        if counts["skipped"] and looked:
            print(
                f"model {name} ran on {counts['frames']} of {looked} inferred frames "
                f"({counts['frames'] / looked:.0%}; second look)"
            )
    print(f"run took {report.wall_s:.0f} s")


def rule_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``flame.evidence.enabled=false`` items as a nested mapping (values read as YAML)."""
    found: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise FootageError(f"--rule {item!r}: expected PATH=VALUE")
        *parents, leaf = path.split(".")
        node = found
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = yaml.safe_load(raw)
    return found


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, run, print (and write --json)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.footage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE, help="clips directory")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    parser.add_argument("--all", action="store_true", help="every clip (eval and train)")
    parser.add_argument("--use", choices=USES, default="eval", help="clips of this use")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="models and rules")
    parser.add_argument("--model", type=Path, help="ONNX file for every model entry")
    parser.add_argument("--clips", nargs="+", metavar="NAME", help="only these clips (any use)")
    parser.add_argument("--no-frames", action="store_true", help="skip the per-frame pass")
    parser.add_argument("--cache", type=Path, default=CACHE, help="derived videos (gitignored)")
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a rule setting, e.g. flame.evidence.enabled=false (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        overrides = rule_overrides(args.rule)
        report = run_benchmark(
            args.footage,
            args.clips,
            args.config,
            args.model,
            frames=not args.no_frames,
            use=None if args.all else args.use,
            rule_overrides=overrides,
            cache_dir=args.cache,
        )
    except (FootageError, ConfigError, StartupError) as error:
        sys.exit(f"bench.footage: {error}")
    print_report(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
