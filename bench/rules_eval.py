"""Incident-level figures of the flame and hard-hat rules, and alerts on hazard-free footage.

Figures only, no assertions. Everything runs through ``sitewatch.replay.replay`` (the live
ingest -> detect -> rules path in video time) with the detector of ``--model``.

1. Assembled videos from the evaluation half of the ``val`` split of the shared dataset (never
   the training images, nor the calibration half the rule thresholds were chosen on:
   ``bench.val_halves``, ``bench.operating_points``): each labelled image is held still for
   ``SEGMENT_S`` as one segment (letterboxed to 640x480, 10 fps so the rules' 2 fps sampling
   lands on frames, light sensor noise, H.264). Segments
   alternate negative, positive, negative... with ``clear_s + GAP_MARGIN_S`` of a quiet camera
   between any two (the empty generated warehouse aisle, ``sitewatch.demo.scene``), so an
   incident ends before the next segment starts: every segment can then open its own incident
   and none hides another's. (A uniform grey or black filler would not do: the detector takes a
   featureless frame for smoke.) The segments are independent trials, so these replays run with
   the rule's ``cooldown_s`` at 0: live, flames again within the cooldown reopen the ended alert
   instead of opening one, and replay counts incidents as the live alert lifecycle does.
   - flame: positives hold fire or smoke labels; negatives are hard hat pictures without them
     and the fire set's CCTV pictures without any label (a colourful shop aisle, a living room;
     that set does not label smoke, so an alert there is counted false even if smoke shows).
   - missing_hardhat: positives show a bare ``head`` at least ``MIN_HEAD_PX`` tall and wide in
     the 640x480 frame; negatives hold ``helmet`` labels only. No zones: the whole frame is
     hardhat_required.
   An incident starting within a positive segment (up to ``MATCH_TOLERANCE_S`` after its end)
   is a true positive for it (a second one would be a false positive); any other incident is a
   false positive; a positive segment without one is a false negative. Delay: segment start to
   incident start. Alerts per hour: false positives over the hours of negative segments (the
   gaps do not count as footage; an alert in them still counts). The flame video also runs
   with ``lab.flame_colour`` filtering fire and smoke boxes, to see what that check saves.
2. A hazard-free generated scene: the demo aisle without the obstacle, the worker walking by
   every 15 s and the lights switching on -> dim -> off every ``light_switch_period_s``, replayed
   with the exit zone of ``config/demo.yaml`` and production rule timings (every rule on).

Rule parameters are the product defaults (``sitewatch.config.rules``); the model runs as the
example configuration runs it (``config/site-example.yaml``: input size and classes per
entry). Videos are cached under ``data/bench/rules_eval/``. The dataset lives outside the
repository (``--data``); without it part 1 is skipped, saying why.

Run: .venv/bin/python -m bench.rules_eval [--quick] [--json] [--data PATH] [--model PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import yaml

from bench.proc import percentile, process_cpu_s
from bench.val_halves import CALIBRATION, EVALUATION, Half, half_of
from detect.detections import Detections
from detect.engine import as_bgr
from detect.inference import DetectorStage
from detect.model_format import ModelFormat
from detect.model_probe import describe_model
from lab.flame_colour import ColourParams, keep_plausible
from lab.yolo_dataset import DatasetError, LabelledImage, YoloDataset, load_dataset
from sitewatch.config.loader import load_config
from sitewatch.config.site import SiteConfig
from sitewatch.demo.scene import SceneSpec, ensure_scene, iter_frames
from sitewatch.demo.video_file import ENCODING, write_camera_video
from sitewatch.replay import Incident, ReplayResult, replay
from sitewatch.runner import load_detectors

Image = npt.NDArray[np.uint8]

CACHE = Path("data/bench/rules_eval")
DEFAULT_DATA = Path("../shared/datasets/hazards/data.yaml")
DEFAULT_MODEL = Path("models/hazards.onnx")
DEMO_CONFIG = Path("config/demo.yaml")
PRODUCT_CONFIG = Path("config/site-example.yaml")

VIDEO_VERSION = 2  # bump when the assembled pictures change
FRAME_WH = (640, 480)
FPS = 10
SEGMENT_S = 8.0
GAP_MARGIN_S = 6.0  # gap = the rule's clear_s + this
GAP_SCENE = SceneSpec(width=854, height=480, fps=1, duration_s=1.0, obstacle=False)
NOISE_SIGMA = 2.0
MIN_HEAD_PX = 32  # bare heads smaller than this (either side, in the 640x480 frame) are skipped
MATCH_TOLERANCE_S = 2.0
TRIALS = {"cooldown_s": 0.0}  # every segment may open its own incident (see the docstring)
SEED = 20261128
PAIRS = 80  # negative + positive segments per video (fewer when a pool is smaller)
QUICK_PAIRS = 3

SCENE = SceneSpec(
    width=640,
    height=360,
    fps=10,
    duration_s=600.0,
    obstacle=False,
    light_switch_period_s=60.0,
)
QUICK_SCENE = replace(SCENE, duration_s=60.0, light_switch_period_s=20.0)

FLAME, HARDHAT, EXIT = "flame", "missing_hardhat", "blocked_exit"
PRECISION_GOAL = RECALL_GOAL = 0.9


def log(message: str) -> None:
    """Progress, on stderr (stdout is kept for the figures)."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True, slots=True)
class Segment:
    """One still picture held from ``start_s`` to ``end_s`` (video seconds)."""

    start_s: float
    end_s: float
    positive: bool
    image: Path


@dataclass(frozen=True, slots=True)
class Assembly:
    """The plan of one assembled video."""

    hazard: str
    segments: tuple[Segment, ...]
    gap_s: float
    duration_s: float

    def key(self) -> str:
        """Identifies the pictures (cache key)."""
        recipe = {
            "version": VIDEO_VERSION,
            "encoding": ENCODING,
            "frame": FRAME_WH,
            "fps": FPS,
            "noise": NOISE_SIGMA,
            "gap": asdict(GAP_SCENE),
            "segments": [[s.start_s, s.end_s, s.positive, s.image.name] for s in self.segments],
        }
        return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]


def _ids(data: YoloDataset, *names: str) -> list[int]:
    return [i for i, name in enumerate(data.class_names) if name in names]


def _has(item: LabelledImage, ids: Sequence[int]) -> bool:
    return bool(np.isin(item.class_id, ids).any())


def _in_half(data: YoloDataset, half: Half | None) -> list[LabelledImage]:
    return [item for item in data.images if half is None or half_of(item.image) == half]


def flame_pools(
    data: YoloDataset, half: Half | None = EVALUATION
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(positives: pictures with fire or smoke, negatives: hard hat pictures without them and
    the fire set's pictures without any label: CCTV views of a shop aisle and a living room, the
    hard cases), from one half of the split (``None``: all of it)."""
    flames = _ids(data, "fire", "smoke")
    images = _in_half(data, half)
    positives = [item for item in images if _has(item, flames)]
    negatives = [
        item
        for item in images
        if (item.image.name.startswith("hardhat_") and not _has(item, flames))
        or (item.image.name.startswith("bombatronic_") and len(item.class_id) == 0)
    ]
    return positives, negatives


def _largest_head_px(item: LabelledImage, head: int) -> float:
    """The smaller side of the largest bare head, in pixels of the letterboxed frame."""
    picture = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
    if picture is None:
        return 0.0
    height, width = picture.shape[:2]
    scale = min(FRAME_WH[0] / width, FRAME_WH[1] / height)
    boxes = item.cxcywh[item.class_id == head]
    sides = np.minimum(boxes[:, 2] * width, boxes[:, 3] * height) * scale
    return float(sides.max(initial=0.0))


def hardhat_pools(
    data: YoloDataset, half: Half | None = EVALUATION
) -> tuple[list[LabelledImage], list[LabelledImage]]:
    """(positives: a bare head of MIN_HEAD_PX or more, negatives: helmets only), from one half
    of the split (``None``: all of it)."""
    heads, helmet = _ids(data, "head"), _ids(data, "helmet")
    images = _in_half(data, half)
    positives = [
        item
        for item in images
        if _has(item, heads) and _largest_head_px(item, heads[0]) >= MIN_HEAD_PX
    ]
    negatives = [
        item
        for item in images
        if len(item.class_id) > 0 and bool(np.isin(item.class_id, helmet).all())
    ]
    return positives, negatives


def pick(pool: Sequence[LabelledImage], count: int, rng: np.random.Generator) -> list[Path]:
    """``count`` pictures of ``pool`` (all when fewer), seeded, independent of listing order."""
    names = sorted(item.image for item in pool)
    order = rng.permutation(len(names))[:count]
    return [names[int(i)] for i in order]


def assemble(
    hazard: str,
    positives: Sequence[LabelledImage],
    negatives: Sequence[LabelledImage],
    pairs: int,
    clear_s: float,
) -> Assembly:
    """Negative, gap, positive, gap, ... (``pairs`` of each, fewer if a pool is smaller)."""
    rng = np.random.default_rng(SEED)
    count = min(pairs, len(positives), len(negatives))
    good, bad = pick(positives, count, rng), pick(negatives, count, rng)
    gap = clear_s + GAP_MARGIN_S
    segments: list[Segment] = []
    t = 0.0
    for negative, positive in zip(bad, good, strict=True):
        for image, is_positive in ((negative, False), (positive, True)):
            segments.append(Segment(t, t + SEGMENT_S, is_positive, image))
            t += SEGMENT_S + gap
    return Assembly(hazard, tuple(segments), gap, t)


# --------------------------------------------------------------------------- videos


def letterbox(picture: Image) -> Image:
    """``picture`` scaled to fit FRAME_WH, centred on black."""
    width, height = FRAME_WH
    scale = min(width / picture.shape[1], height / picture.shape[0])
    size = (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(picture, size, interpolation=method)
    canvas = np.zeros((height, width, 3), np.uint8)
    x, y = (width - size[0]) // 2, (height - size[1]) // 2
    canvas[y : y + size[1], x : x + size[0]] = small
    return canvas


def quiet_camera() -> Image:
    """The first frame of the demo aisle (nobody there, no obstacle), cropped to FRAME_WH."""
    frame = next(iter_frames(GAP_SCENE))
    left = (frame.shape[1] - FRAME_WH[0]) // 2
    return np.ascontiguousarray(frame[: FRAME_WH[1], left : left + FRAME_WH[0]])


def _frames(assembly: Assembly) -> Iterator[Image]:
    rng = np.random.default_rng(SEED)
    noise = []
    for _ in range(6):
        n = rng.normal(0.0, NOISE_SIGMA, (FRAME_WH[1], FRAME_WH[0], 3)).round()
        noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
    gap = quiet_camera()
    pictures: dict[Path, Image] = {}
    for index in range(round(assembly.duration_s * FPS)):
        t = index / FPS
        shown = gap
        for segment in assembly.segments:
            if segment.start_s <= t < segment.end_s:
                if segment.image not in pictures:
                    pictures.clear()
                    raw = cv2.imread(str(segment.image), cv2.IMREAD_COLOR)
                    if raw is None:
                        raise DatasetError(f"cannot read {segment.image}")
                    pictures[segment.image] = letterbox(np.asarray(raw, np.uint8))
                shown = pictures[segment.image]
                break
        add, sub = noise[index % len(noise)]
        yield np.asarray(cv2.subtract(cv2.add(shown, add), sub), np.uint8)


def ensure_video(assembly: Assembly) -> Path:
    """The assembled video, from the cache when it holds the same plan."""
    path = CACHE / f"{assembly.hazard}-{len(assembly.segments)}seg-{assembly.key()}.mp4"
    if not path.is_file():
        log(f"assembling {path} ({assembly.duration_s / 60:.0f} min of video)...")
        write_camera_video(path, _frames(assembly), FPS, FRAME_WH)
    return path


# --------------------------------------------------------------------------- replay


@dataclass
class BenchStage(DetectorStage):
    """The configured detectors, timed; with ``colour`` set, fire and smoke boxes failing the
    colour check are dropped (what the rules would see with that check in front of them)."""

    colour: ColourParams | None = None
    seconds: float = 0.0
    frames: int = 0

    def run(self, frames: Mapping[str, npt.NDArray[Any]]) -> dict[str, dict[str, Detections]]:
        """As ``DetectorStage.run``."""
        started = time.perf_counter()
        found = super().run(frames)
        if self.colour is not None:
            params = self.colour
            found = {
                camera: {
                    name: keep_plausible(detections, as_bgr(frames[camera]), params)
                    for name, detections in models.items()
                }
                for camera, models in found.items()
            }
        self.seconds += time.perf_counter() - started
        self.frames += len(frames)
        return found


def product_models(model: Path, config: Path = PRODUCT_CONFIG) -> list[dict[str, Any]]:
    """The model entries of ``config`` (by default the example configuration, the product
    default: input sizes and classes per entry), each hazard model entry running ``model``; a
    person finder's entry (``format: yolox``) keeps its own file."""
    entries = yaml.safe_load(config.read_text(encoding="utf-8"))["models"]
    return [{**entry, "path": str(_model_path(entry, model, config))} for entry in entries]


def _model_path(entry: Mapping[str, Any], model: Path, config: Path) -> Path:
    if entry.get("format", ModelFormat.ULTRALYTICS) == ModelFormat.YOLOX:
        return (config.parent / str(entry["path"])).resolve()
    return model.resolve()


def site_config(
    workdir: Path,
    model: Path | None,
    rules: Mapping[str, Any],
    zones: Sequence[Any] = (),
    models_from: Path = PRODUCT_CONFIG,
) -> SiteConfig:
    """One camera, the model as the example configuration (or ``models_from``) runs it (none:
    no detector), ``rules`` over the product defaults; loaded like a user's file."""
    data = {
        "site": {"id": "bench"},
        "cameras": [
            {"name": "cam", "url": "file:///dev/null", "detect_fps": 2, "zones": list(zones)}
        ],
        "models": [] if model is None else product_models(model, models_from),
        "rules": dict(rules),
        "storage": {"data_dir": str(workdir / "data")},
    }
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path, read_model=describe_model)


@dataclass(frozen=True, slots=True)
class Cost:
    """What one replay cost."""

    video_s: float
    wall_s: float
    cpu_s: float  # this process, all threads
    sampled: int
    inferred: int
    gated: int
    inference_ms: float  # mean per inferred frame (detector, NMS, colour check)

    @property
    def speed(self) -> float:
        """Video seconds per wall-clock second."""
        return self.video_s / self.wall_s if self.wall_s else math.nan

    @property
    def gated_share(self) -> float:
        """Share of the detection ticks that motion gating spared the detector."""
        ticks = self.inferred + self.gated
        return self.gated / ticks if ticks else math.nan

    @property
    def saved_core_share(self) -> float:
        """Inference CPU spared by gating, as a share of one core at real time."""
        return self.gated * self.inference_ms / 1000 / self.video_s if self.video_s else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived figures."""
        return {
            **asdict(self),
            "speed": self.speed,
            "gated_share": self.gated_share,
            "saved_core_share": self.saved_core_share,
        }


def run_replay(
    config: SiteConfig, video: Path, stage: BenchStage | None
) -> tuple[ReplayResult, Cost]:
    """Replay ``video`` and account for its cost."""
    cpu = process_cpu_s()
    result = replay(config, video, None, stage)
    cpu = process_cpu_s() - cpu
    per_frame = stage.seconds * 1000 / stage.frames if stage and stage.frames else math.nan
    cost = Cost(
        result.duration_s,
        result.seconds,
        round(cpu, 2),
        result.sampled,
        result.inferred,
        result.gated,
        round(per_frame, 2),
    )
    return result, cost


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    """An incident that no positive segment accounts for."""

    start_s: float
    where: str  # the picture it started on, "gap", or "duplicate"


@dataclass(frozen=True, slots=True)
class Tally:
    """Incidents of one hazard against the segments of one video."""

    positives: int
    negatives: int
    tp: int
    fp: int
    fn: int
    delays_s: tuple[float, ...]
    negative_s: float
    false_alarms: tuple[FalseAlarm, ...]
    missed: tuple[str, ...]

    @property
    def precision(self) -> float:
        """TP / incidents (NaN without incidents)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        """TP / positive segments."""
        return self.tp / self.positives if self.positives else math.nan

    @property
    def alerts_per_hour(self) -> float:
        """False positives per hour of negative footage."""
        return self.fp / (self.negative_s / 3600) if self.negative_s else math.nan


def match(
    incidents: Sequence[Incident], segments: Sequence[Segment], hazard: str, tolerance_s: float
) -> Tally:
    """Pair each incident of ``hazard`` with the positive segment it started in."""
    found: dict[int, float] = {}  # positive segment index -> delay
    alarms: list[FalseAlarm] = []
    for incident in sorted((i for i in incidents if i.hazard == hazard), key=lambda i: i.start_s):
        at = incident.start_s
        hit = next(
            (
                index
                for index, s in enumerate(segments)
                if s.positive and s.start_s <= at <= s.end_s + tolerance_s
            ),
            None,
        )
        if hit is not None and hit not in found:
            found[hit] = round(at - segments[hit].start_s, 2)
            continue
        if hit is not None:
            where = "duplicate"
        else:
            shown = [s for s in segments if s.start_s <= at < s.end_s]
            where = shown[0].image.name if shown else "gap"
        alarms.append(FalseAlarm(at, where))
    positives = [i for i, s in enumerate(segments) if s.positive]
    return Tally(
        positives=len(positives),
        negatives=len(segments) - len(positives),
        tp=len(found),
        fp=len(alarms),
        fn=len(positives) - len(found),
        delays_s=tuple(found[i] for i in sorted(found)),
        negative_s=sum(s.end_s - s.start_s for s in segments if not s.positive),
        false_alarms=tuple(alarms),
        missed=tuple(segments[i].image.name for i in positives if i not in found),
    )


# --------------------------------------------------------------------------- part 1


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One rule on one assembled video."""

    label: str
    hazard: str
    video: str
    gap_s: float
    delay_goal_s: float
    tally: Tally
    cost: Cost

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        tally = self.tally
        return {
            "label": self.label,
            "hazard": self.hazard,
            "video": self.video,
            "gap_s": self.gap_s,
            "positives": tally.positives,
            "negatives": tally.negatives,
            "tp": tally.tp,
            "fp": tally.fp,
            "fn": tally.fn,
            "precision": tally.precision,
            "recall": tally.recall,
            "delay_median_s": statistics.median(tally.delays_s) if tally.delays_s else None,
            "delay_p90_s": percentile(tally.delays_s, 90),
            "delay_goal_s": self.delay_goal_s,
            "delays_s": list(tally.delays_s),
            "negative_hours": tally.negative_s / 3600,
            "alerts_per_hour": tally.alerts_per_hour,
            "false_alarms": [asdict(a) for a in tally.false_alarms],
            "missed": list(tally.missed),
            "replay": self.cost.to_dict(),
        }


def rule_rows(
    data_path: Path,
    model: Path,
    pairs: int,
    workdir: Path,
    half: Half = EVALUATION,
    hazards: Sequence[str] = (FLAME, HARDHAT),
    models_from: Path = PRODUCT_CONFIG,
) -> list[RuleRow]:
    """Part 1: flame (with and without the colour check) and hard hat on assembled videos from
    ``half`` of the val split (the calibration half only to study or tune the rules)."""
    data = load_dataset(data_path)
    rows: list[RuleRow] = []
    if FLAME in hazards:
        rows += _flame_rows(data, model, pairs, workdir, half, models_from)
    if HARDHAT in hazards:
        rows.append(_hardhat_row(data, model, pairs, workdir, half, models_from))
    return rows


def _flame_rows(
    data: YoloDataset, model: Path, pairs: int, workdir: Path, half: Half, models_from: Path
) -> list[RuleRow]:
    rows: list[RuleRow] = []

    # Photographs held still cannot flicker: the rule's temporal evidence (production default)
    # stops them by design. The photo figures are the detector and the rule on one frame's
    # opinion; the "as deployed" row shows what the evidence does to still pictures.
    single = {
        "hardhat": {"enabled": False},
        "flame": {"evidence": {"enabled": False}, **TRIALS},
    }
    flame_config = site_config(workdir, model, single, models_from=models_from)
    deployed = {"hardhat": {"enabled": False}, "flame": TRIALS}
    deployed_config = site_config(workdir, model, deployed, models_from=models_from)
    flame = flame_config.rules.flame
    camera = flame_config.cameras[0]
    flame_plan = assemble(FLAME, *flame_pools(data, half), pairs, flame.clear_s)
    flame_video = ensure_video(flame_plan)
    flame_goal = flame.window_frames / camera.detect_fps + 1.0
    variants: tuple[tuple[str, SiteConfig, ColourParams | None], ...] = (
        (f"{FLAME} (one frame's opinion)", flame_config, None),
        (f"{FLAME} + colour check", flame_config, ColourParams()),
        (f"{FLAME} + temporal evidence (as deployed)", deployed_config, None),
    )
    for label, config, colour in variants:
        stage = _stage(config, colour)
        log(f"replaying {flame_video} ({label})...")
        result, cost = run_replay(config, flame_video, stage)
        tally = match(result.incidents, flame_plan.segments, FLAME, MATCH_TOLERANCE_S)
        rows.append(
            RuleRow(label, FLAME, str(flame_video), flame_plan.gap_s, flame_goal, tally, cost)
        )
    return rows


def _hardhat_row(
    data: YoloDataset, model: Path, pairs: int, workdir: Path, half: Half, models_from: Path
) -> RuleRow:
    hat_config = site_config(
        workdir, model, {"flame": {"enabled": False}, "hardhat": TRIALS}, models_from=models_from
    )
    hardhat = hat_config.rules.hardhat
    hat_plan = assemble(HARDHAT, *hardhat_pools(data, half), pairs, hardhat.clear_s)
    hat_video = ensure_video(hat_plan)
    log(f"replaying {hat_video}...")
    result, cost = run_replay(hat_config, hat_video, _stage(hat_config, None))
    tally = match(result.incidents, hat_plan.segments, HARDHAT, MATCH_TOLERANCE_S)
    goal = hardhat.min_duration_s + 1.0
    return RuleRow(HARDHAT, HARDHAT, str(hat_video), hat_plan.gap_s, goal, tally, cost)


def _stage(config: SiteConfig, colour: ColourParams | None) -> BenchStage:
    loaded = load_detectors(config)
    if loaded is None:
        raise RuntimeError("no detector configured")
    return BenchStage(loaded.detectors, colour=colour)


# --------------------------------------------------------------------------- part 2


@dataclass(frozen=True, slots=True)
class SceneReport:
    """Part 2: alerts on the hazard-free scene."""

    video: str
    spec: SceneSpec
    alerts: dict[str, int]
    incidents: tuple[Incident, ...]
    cost: Cost
    detector: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "video": self.video,
            "spec": asdict(self.spec),
            "detector": self.detector,
            "alerts": self.alerts,
            "incidents": [i.to_dict() for i in self.incidents],
            "replay": self.cost.to_dict(),
        }


def scene_report(
    model: Path | None, quick: bool, workdir: Path, models_from: Path = PRODUCT_CONFIG
) -> SceneReport:
    """Replay the hazard-free scene with the demo's exit zone and production timings."""
    spec = QUICK_SCENE if quick else SCENE
    video = CACHE / f"clear-aisle-{spec.duration_s:.0f}s.mp4"
    log(f"rendering {video} unless cached ({spec.duration_s / 60:.0f} min)...")
    ensure_scene(video, spec)
    zones = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))["cameras"][0]["zones"]
    config = site_config(workdir, model, {}, zones, models_from)
    stage = None if model is None else _stage(config, None)
    log(f"replaying {video}...")
    result, cost = run_replay(config, video, stage)
    counts = Counter(incident.hazard for incident in result.incidents)
    alerts = {hazard: counts.get(hazard, 0) for hazard in (EXIT, FLAME, HARDHAT)}
    return SceneReport(str(video), spec, alerts, tuple(result.incidents), cost, stage is not None)


# --------------------------------------------------------------------------- output


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ok" if ok else " MISS")


def print_rules(rows: Sequence[RuleRow], model: Path, data: Path, half: Half) -> None:
    """Part 1 as a table."""
    why = (
        "never trained on; thresholds chosen on the other half"
        if half == EVALUATION
        else "the half the thresholds were chosen on: for study, not for reporting"
    )
    print(
        f"Part 1: rules on videos assembled from the {half} half of the val split of {data} ({why})"
    )
    print(f"model {model}; product rule defaults; detect_fps 2; motion gating on")
    gaps = ", ".join(f"{row.hazard} {row.gap_s:g} s" for row in rows if "+" not in row.label)
    print(
        f"segments: one still picture each, {SEGMENT_S:g} s, negative/positive alternating, "
        f"{FRAME_WH[0]}x{FRAME_WH[1]} {FPS} fps H.264;\n"
        f"quiet-camera gaps between segments (empty generated aisle, clear_s + "
        f"{GAP_MARGIN_S:g} s): {gaps}; "
        f"an incident matches a positive segment it starts in (+{MATCH_TOLERANCE_S:g} s)"
    )
    print()
    header = (
        f"{'rule':<24} {'+segs':>5} {'-segs':>5} {'TP':>4} {'FP':>4} {'FN':>4} "
        f"{'precision':>10} {'recall':>8} {'delay med':>9} {'p90':>6} {'goal':>8} "
        f"{'alerts/h':>9} {'replay':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        t = row.tally
        median = statistics.median(t.delays_s) if t.delays_s else None
        p90 = percentile(t.delays_s, 90) if t.delays_s else None
        delay_ok = None if p90 is None else p90 <= row.delay_goal_s
        precision_ok = None if math.isnan(t.precision) else t.precision >= PRECISION_GOAL
        recall_ok = None if math.isnan(t.recall) else t.recall >= RECALL_GOAL
        print(
            f"{row.label:<24} {t.positives:>5} {t.negatives:>5} {t.tp:>4} {t.fp:>4} {t.fn:>4} "
            f"{_num(t.precision) + _mark(precision_ok):>10} {_num(t.recall) + _mark(recall_ok):>8} "
            f"{_num(median, 1) + ' s':>9} {_num(p90, 1):>6} "
            f"{'<=' + _num(row.delay_goal_s, 1) + _mark(delay_ok):>8} "
            f"{_num(t.alerts_per_hour, 0):>9} {_num(row.cost.speed, 0) + 'x':>7}"
        )
    print()
    print(
        f"goals: precision >= {PRECISION_GOAL}, recall >= {RECALL_GOAL}, p90 delay <= the "
        "confirmation window + 1 s (flame: window_frames / detect_fps; hard hat: min_duration_s)"
    )
    print(
        "alerts/h: false positives per hour of negative segments (each still negative that "
        "fools the detector gives one alert per segment, so this scales with the segment count)"
    )
    for row in rows:
        alarms = ", ".join(f"{a.where} @{a.start_s:g}s" for a in row.tally.false_alarms)
        missed = ", ".join(row.tally.missed)
        print(f"{row.label}: false alarms: {alarms or 'none'}")
        print(f"{row.label}: missed: {missed or 'none'}")
    base = next((r for r in rows if r.label == FLAME), None)
    colour = next((r for r in rows if r.label.startswith(f"{FLAME} +")), None)
    if base is not None and colour is not None:
        print(
            f"colour check (lab.flame_colour, literature thresholds, not tuned): false "
            f"positives {base.tally.fp} -> {colour.tally.fp}, true positives "
            f"{base.tally.tp} -> {colour.tally.tp} of {base.tally.positives}"
        )
        print(
            "flicker check: not measurable here (the segments are still pictures: no fire "
            "flickers in them, so any flicker test would reject every fire)"
        )


def print_scene(report: SceneReport) -> None:
    """Part 2."""
    spec, cost = report.spec, report.cost
    print()
    print(
        f"Part 2: hazard-free generated scene, {spec.duration_s / 60:g} min {spec.width}x"
        f"{spec.height} {spec.fps} fps: demo aisle, no obstacle, worker walking by every 15 s, "
        f"lights on -> dim -> off every {spec.light_switch_period_s:g} s"
    )
    print(
        "exit zone of config/demo.yaml, production timings (dwell 30 s), every rule on"
        + ("" if report.detector else " (no detector: blocked exit only)")
    )
    total = sum(report.alerts.values())
    alerts = ", ".join(f"{hazard} {count}" for hazard, count in report.alerts.items())
    print(f"alerts: {alerts} (total {total}, goal 0){_mark(total == 0)}")
    for incident in report.incidents:
        end = "open" if incident.end_s is None else f"{incident.end_s:g} s"
        print(f"  {incident.hazard} in {incident.zone}: {incident.start_s:g} s -> {end}")
    print(
        f"replay: {cost.video_s:.0f} s of video in {cost.wall_s:.1f} s ({cost.speed:.1f}x real "
        f"time), {cost.cpu_s / cost.video_s * 100:.1f} % of one core at real time"
    )
    print(
        f"motion gating: {cost.inferred} detection ticks inferred, {cost.gated} gated "
        f"({cost.gated_share * 100:.0f} % spared); at {cost.inference_ms:.1f} ms per inference "
        f"that saves {cost.saved_core_share * 100:.1f} % of one core"
    )


def _clean(value: Any) -> Any:
    """NaN -> None and paths -> str, recursively (strict JSON)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass
class Outcome:
    """Everything one run found."""

    rules: list[RuleRow] = field(default_factory=list)
    rules_skipped: str | None = None
    scene: SceneReport | None = None
    half: Half = EVALUATION

    def to_dict(self, model: Path, data: Path, quick: bool) -> dict[str, Any]:
        """JSON-ready."""
        cleaned: dict[str, Any] = _clean(
            {
                "model": model,
                "data": data,
                "half": self.half,
                "quick": quick,
                "settings": {
                    "frame_wh": FRAME_WH,
                    "fps": FPS,
                    "segment_s": SEGMENT_S,
                    "gap_margin_s": GAP_MARGIN_S,
                    "match_tolerance_s": MATCH_TOLERANCE_S,
                    "min_head_px": MIN_HEAD_PX,
                    "seed": SEED,
                },
                "rules": [row.to_dict() for row in self.rules],
                "rules_skipped": self.rules_skipped,
                "scene": None if self.scene is None else self.scene.to_dict(),
            }
        )
        return cleaned


def main(argv: Sequence[str] | None = None) -> None:
    """Run both parts and print the figures (or JSON)."""
    parser = argparse.ArgumentParser(prog="python -m bench.rules_eval", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 pairs, 1 min scene")
    parser.add_argument("--json", action="store_true", help="print only JSON to stdout")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data YAML (val split)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--skip-scene", action="store_true", help="part 1 only")
    parser.add_argument(
        "--half",
        choices=[EVALUATION, CALIBRATION],
        default=EVALUATION,
        help="val half for part 1 (calibration: to study or tune the rules, not to report)",
    )
    parser.add_argument("--hazard", choices=[FLAME, HARDHAT], nargs="*", default=[FLAME, HARDHAT])
    parser.add_argument(
        "--models-from",
        type=Path,
        default=PRODUCT_CONFIG,
        help="the configuration whose model entries run (default: the example configuration)",
    )
    args = parser.parse_args(argv)

    model: Path | None = args.model if args.model.is_file() else None
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="rules-eval-") as tmp:
        workdir = Path(tmp)
        if model is None:
            outcome.rules_skipped = f"no model at {args.model} (pass --model)"
        elif not args.data.is_file():
            outcome.rules_skipped = (
                f"no dataset at {args.data}: the shared validation images are not part of the "
                "repository (pass --data path/to/data.yaml)"
            )
        else:
            pairs = QUICK_PAIRS if args.quick else PAIRS
            outcome.half = args.half
            outcome.rules = rule_rows(
                args.data, model, pairs, workdir, args.half, args.hazard, args.models_from
            )
        if not args.skip_scene:
            outcome.scene = scene_report(model, args.quick, workdir, args.models_from)

    if args.json:
        print(json.dumps(outcome.to_dict(args.model, args.data, args.quick), indent=2))
        return
    if outcome.rules_skipped is not None:
        print(f"Part 1 skipped: {outcome.rules_skipped}")
    else:
        print_rules(outcome.rules, args.model, args.data, args.half)
    if outcome.scene is not None:
        print_scene(outcome.scene)


if __name__ == "__main__":
    main()
