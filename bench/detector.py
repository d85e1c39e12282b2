"""Detector latency: our ONNX Runtime engine next to ultralytics' ``predict`` and OpenCV DNN.

Per-frame latency (preprocess + inference + NMS, end to end from BGR frames to detections) on a
1280x720 frame, for every (input size, threads, batch) setting asked for; a batch's time is
divided by its frames. Columns, all on the same weights:

- ours: ``OnnxDetector.detect_batch`` (ONNX Runtime, ``intra_op_num_threads`` = threads).
- ours spin: what if ours let its idle ONNX Runtime threads busy-wait after each call (ONNX
  Runtime's default; ours sets ``session.intra_op.allow_spinning=0`` because the cores are
  shared with the camera decoders).
- ul .pt: ultralytics ``YOLO(pt).predict(frames, imgsz=size)`` on torch (``torch.set_num_threads``).
- ul .onnx: ultralytics ``YOLO(onnx).predict`` on the same ONNX file as ours; its ONNX Runtime
  session is rebuilt with ``intra_op_num_threads`` = threads (ultralytics' own takes every core).
- cv dnn: ``cv2.dnn`` on the ONNX file with our letterbox and decode (``cv2.setNumThreads``). If
  OpenCV cannot run the dynamic-shape model (or with ``--opencv-static``) it runs static copies
  exported from the .pt per input size (square input, batch 1), cached under data/bench/detector/.

The engines take turns within each setting (one call each per round, in a fresh shuffled order),
so their ratios are measured side by side on a shared, noisy machine; warm-up calls are not
counted. Before each timed call the bench idles ``--settle-ms`` (50), so thread pools still
spinning from the previous call (ONNX Runtime's, OpenMP's) do not bill the next engine; sitewatch
detects at a few frames per second per camera, so its calls are spaced out like this too.
Ratios are medians of the per-round ratios. A column that cannot run prints "n/a" and its reason
once. ultralytics needs torch: run with the training venv to fill its columns.

Run: .venv/bin/python -m bench.detector [--sizes 320 416 640] [--threads 1 2] [--batches 1 4]
     [--repeats 30] [--image PATH] [--model models/hazards.onnx] [--pt /work/tmp/rail.pt] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import itertools
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.proc import percentile
from detect.engine import (
    Image,
    Letterbox,
    OnnxDetector,
    as_bgr,
    plan_letterbox,
    session_options,
)
from sitewatch.demo.scene import SceneSpec, iter_frames

BENCH_DIR = Path("data/bench/detector")
DEFAULT_MODEL = Path("models/hazards.onnx")
DEFAULT_PT = Path("/work/tmp/rail.pt")
# The demo scene at 4 s: a worker in the aisle and the pallet in front of the exit.
FRAME_SPEC = SceneSpec(width=1280, height=720, fps=1, duration_s=5.0, obstacle_at_s=2.0)
FRAME_AT_S = 4
WARMUP_CALLS = 3
CONFIDENCE, IOU = 0.25, 0.7  # ultralytics' predict defaults, and ours
GOAL_SIZE, GOAL_THREADS, GOAL_MS = 320, 2, 15.0

OURS, SPIN = "ours", "ours spin"
UL_PT, UL_ONNX, CV_DNN = "ul .pt", "ul .onnx", "cv dnn"
ENGINES = (OURS, SPIN, UL_PT, UL_ONNX, CV_DNN)

Run = Callable[[Sequence[Image]], int]  # frames in, detections on the first frame out


class UnavailableError(Exception):
    """An engine that cannot run here, with the reason."""


# --------------------------------------------------------------------------- input


def demo_frame() -> Image:
    """A 720p frame of the generated warehouse scene (CCTV noise and overlay included)."""
    frames = itertools.islice(iter_frames(FRAME_SPEC), FRAME_AT_S, FRAME_AT_S + 1)
    return next(frames)


def load_frame(image: Path | None) -> tuple[Image, str]:
    """The frame to detect on, and where it came from."""
    if image is None:
        return demo_frame(), f"demo scene at {FRAME_AT_S} s"
    read = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if read is None:
        raise SystemExit(f"cannot read image {image}")
    return np.asarray(read, np.uint8), str(image)


# --------------------------------------------------------------------------- engines


def import_optional(name: str) -> Any:
    """A module that may be missing from this venv (ultralytics, torch): UnavailableError if so."""
    try:
        return importlib.import_module(name)
    except Exception as error:  # ImportError, or a broken install raising anything
        raise UnavailableError(f"{name} not importable in this venv ({error})") from error


def set_threads(threads: int) -> None:
    """Thread pools shared by every engine: OpenCV's (resize, DNN) and torch's, if loaded."""
    cv2.setNumThreads(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def ort_session(path: Path, threads: int, spinning: bool = False) -> Any:
    """An ONNX Runtime CPU session with the same options as ``OnnxDetector``'s; ``spinning=False``
    lets idle pool threads sleep at once instead of busy-waiting for the next task."""
    import onnxruntime

    options = session_options(threads, spinning)
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else repr(error))[:200]


def ours(detector: OnnxDetector) -> Run:
    """Our engine end to end: ``detect_batch``."""

    def run(frames: Sequence[Image]) -> int:
        return len(detector.detect_batch(frames)[0])

    return run


class Ultralytics:
    """ultralytics' ``YOLO.predict`` end to end on the .pt (torch) or the .onnx (ONNX Runtime)."""

    def __init__(self, weights: Path, frame: Image) -> None:
        if not weights.is_file():
            raise UnavailableError(f"{weights} not found")
        yolo = import_optional("ultralytics").YOLO
        self.weights = weights
        self.onnx = weights.suffix == ".onnx"
        try:
            self.model = yolo(str(weights), task="detect")
            self.model.predict(frame, verbose=False)  # sets up the predictor
        except Exception as error:
            raise UnavailableError(
                f"ultralytics cannot load {weights}: {first_line(error)}"
            ) from error
        self._sessions: dict[int, Any] = {}

    def runner(self, size: int, threads: int) -> Run:
        if self.onnx:
            self._use_session(threads)

        def run(frames: Sequence[Image]) -> int:
            results = self.model.predict(
                list(frames), imgsz=size, conf=CONFIDENCE, iou=IOU, verbose=False
            )
            return len(results[0].boxes)

        return run

    def speed(self, frame: Image, size: int) -> dict[str, float]:
        """ultralytics' own per-stage figures (ms per image) for one frame."""
        results = self.model.predict(frame, imgsz=size, conf=CONFIDENCE, iou=IOU, verbose=False)
        return {key: float(value) for key, value in results[0].speed.items()}

    def _use_session(self, threads: int) -> None:
        try:
            backend = self.model.predictor.model.backend
            if threads not in self._sessions:
                self._sessions[threads] = ort_session(self.weights, threads, spinning=True)
            backend.session = self._sessions[threads]
        except Exception as error:
            raise UnavailableError(
                f"cannot give ultralytics' ONNX session {threads} threads"
            ) from error


def static_copy(pt: Path, size: int) -> Path:
    """A static-shape (size x size, batch 1) ONNX export of ``pt``, cached under BENCH_DIR."""
    if not pt.is_file():
        raise UnavailableError(f"no static copy: {pt} not found")
    digest = hashlib.sha256(pt.read_bytes()).hexdigest()[:12]
    target = BENCH_DIR / f"{pt.stem}-{digest}-{size}-static.onnx"
    if target.is_file():
        return target
    yolo = import_optional("ultralytics").YOLO
    print(f"  exporting a static {size} px ONNX copy of {pt} for OpenCV DNN ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / pt.name  # export writes next to its weights
        shutil.copy2(pt, source)
        try:
            exported = yolo(str(source)).export(
                format="onnx", imgsz=size, dynamic=False, simplify=True, batch=1, verbose=False
            )
        except Exception as error:
            raise UnavailableError(f"static export of {pt} failed: {first_line(error)}") from error
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        shutil.move(exported, target)
    return target


class OpenCvDnn:
    """``cv2.dnn`` inference between our letterbox and our decode."""

    def __init__(self, model: Path, pt: Path, force_static: bool) -> None:
        self.model = model
        self.pt = pt
        self.static = force_static
        self.static_reason = "forced by --opencv-static" if force_static else ""
        self._nets: dict[int | None, Any] = {}

    def runner(self, decoder: OnnxDetector, frames: Sequence[Image]) -> Run:
        size = decoder.input_size
        if not self.static:
            try:
                net = self._net(None, self.model)
                run = self._make(net, decoder, None)
                run(frames)  # OpenCV may load a dynamic model yet fail on its first shape
                return run
            except UnavailableError as error:
                self.static, self.static_reason = True, str(error)
        net = self._net(size, static_copy(self.pt, size))
        return self._make(net, decoder, size)

    def _net(self, key: int | None, path: Path) -> Any:
        if key not in self._nets:
            try:
                self._nets[key] = cv2.dnn.readNetFromONNX(str(path))
            except cv2.error as error:
                raise UnavailableError(
                    f"OpenCV DNN cannot load {path}: {first_line(error)}"
                ) from error
        return self._nets[key]

    @staticmethod
    def _make(net: Any, decoder: OnnxDetector, static_size: int | None) -> Run:
        def plan(image: Image) -> Letterbox:
            if static_size is None:
                return decoder.plan(image)  # the same (rect) canvas as ours
            height, width = image.shape[:2]
            return plan_letterbox(width, height, static_size, decoder.stride, rect=False)

        def forward(blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            try:
                if static_size is None:
                    net.setInput(blob)
                    return np.asarray(net.forward(), np.float32)
                parts = []
                for row in blob:  # the static copy takes one image at a time
                    net.setInput(row[None])
                    parts.append(np.asarray(net.forward(), np.float32))
                return np.concatenate(parts)
            except cv2.error as error:
                shape = "x".join(str(n) for n in blob.shape)
                raise UnavailableError(
                    f"OpenCV DNN fails on a {shape} input: {first_line(error)}"
                ) from error

        def run(frames: Sequence[Image]) -> int:
            images = [as_bgr(frame) for frame in frames]
            plans = [plan(image) for image in images]
            raw = forward(decoder.preprocess(images, plans))
            found = [decoder.postprocess(raw[i], plans[i]) for i in range(len(images))]
            return len(found[0])

        return run


@dataclass
class Columns:
    """The engines of one run and why those that cannot run cannot."""

    names: tuple[str, ...]
    model: Path
    opencv: OpenCvDnn
    ultralytics: dict[str, Ultralytics] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    weights: str = "weights check: not done (no ultralytics)"

    def fail(self, name: str, reason: str) -> None:
        self.reasons.setdefault(name, reason)

    def runners(
        self, size: int, threads: int, frames: Sequence[Image]
    ) -> tuple[OnnxDetector, dict[str, Run]]:
        """Every engine that can run at this setting, ready for ``frames``."""
        detector = OnnxDetector(
            self.model, input_size=size, confidence=CONFIDENCE, iou=IOU, threads=threads
        )
        runs: dict[str, Run] = {OURS: ours(detector)}
        for name in self.names:
            if name == OURS or (name in self.reasons and name != CV_DNN):
                continue
            try:
                if name == SPIN:
                    runs[name] = ours(self._with_spinning(size, threads))
                elif name == CV_DNN:
                    runs[name] = self.opencv.runner(detector, frames)
                else:
                    runs[name] = self.ultralytics[name].runner(size, threads)
            except UnavailableError as error:
                self.fail(name, str(error))
        return detector, runs

    def _with_spinning(self, size: int, threads: int) -> OnnxDetector:
        """What if: our engine with an ONNX Runtime pool that spins when idle (the default)."""
        detector = OnnxDetector(
            self.model, input_size=size, confidence=CONFIDENCE, iou=IOU, threads=threads
        )
        detector._session = ort_session(self.model, threads, spinning=True)
        return detector


def weights_check(model: Path, theirs: Ultralytics) -> str:
    """Whether ultralytics' .pt and our ONNX file hold the same weights: their raw outputs on one
    random 320 px input (boxes within 0.1 px, class scores within 0.001)."""
    torch = import_optional("torch")
    blob = np.random.default_rng(0).random((1, 3, 320, 320), np.float32)
    session = ort_session(model, 1)
    ours = np.asarray(session.run(None, {session.get_inputs()[0].name: blob})[0])
    try:
        with torch.no_grad():
            out = theirs.model.predictor.model(torch.from_numpy(blob))
        out = out[0] if isinstance(out, list | tuple) else out
        pt = np.asarray(out.detach().cpu().numpy() if hasattr(out, "detach") else out)
    except Exception as error:
        return f"weights check failed: {first_line(error)}"
    if pt.shape != ours.shape:
        return (
            f"WARNING: {theirs.weights} and {model} are different models (outputs"
            f" {pt.shape} vs {ours.shape}): ul .pt and cv dnn (static) are not comparable"
        )
    boxes = float(np.abs(pt[:, :4] - ours[:, :4]).max())
    scores = float(np.abs(pt[:, 4:] - ours[:, 4:]).max())
    same = boxes <= 0.1 and scores <= 1e-3
    verdict = "same weights" if same else "WARNING: different weights"
    return f"{verdict}: raw outputs of .pt and .onnx differ by {boxes:.2g} px, {scores:.2g} score"


def open_columns(options: Options, frame: Image) -> Columns:
    columns = Columns(
        options.engines, options.model, OpenCvDnn(options.model, options.pt, options.opencv_static)
    )
    for name, weights in ((UL_PT, options.pt), (UL_ONNX, options.model)):
        if name not in options.engines:
            continue
        try:
            columns.ultralytics[name] = Ultralytics(weights, frame)
        except UnavailableError as error:
            columns.fail(name, str(error))
    if UL_PT in columns.ultralytics:
        columns.weights = weights_check(options.model, columns.ultralytics[UL_PT])
    return columns


# --------------------------------------------------------------------------- measuring


@dataclass
class Cell:
    """Per-frame milliseconds of one engine at one setting, one value per round."""

    ms: list[float] = field(default_factory=list)
    detections: int = -1

    @property
    def p50(self) -> float:
        return percentile(self.ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.ms, 95)


@dataclass
class Setting:
    size: int
    threads: int
    batch: int
    canvas: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)

    def ratio(self, name: str) -> float:
        """Median over rounds of ours / ``name`` in the same round (NaN if either is missing)."""
        ours, theirs = self.cells.get(OURS), self.cells.get(name)
        if ours is None or theirs is None or not theirs.ms or len(ours.ms) != len(theirs.ms):
            return math.nan
        return statistics.median(a / b for a, b in zip(ours.ms, theirs.ms, strict=True))


def timed_ms(run: Run, frames: Sequence[Image]) -> tuple[float, int]:
    started = time.perf_counter()
    found = run(frames)
    return (time.perf_counter() - started) * 1000, found


def orders(names: Sequence[str], seed: int = 0) -> Iterator[list[str]]:
    """The engine order of each round, shuffled afresh: no engine always follows the same one
    (a thread pool still busy from the previous call would always slow down the same engine)."""
    shuffler = random.Random(seed)
    while True:
        order = list(names)
        shuffler.shuffle(order)
        yield order


def measure(
    runs: dict[str, Run], frames: Sequence[Image], options: Options, columns: Columns
) -> dict[str, Cell]:
    """Warm every engine up, then ``options.repeats`` rounds of one call each in a shuffled
    order, with ``options.settle_s`` of idle before each call."""
    cells: dict[str, Cell] = {}
    live = dict(runs)
    for name, run in list(live.items()):
        try:
            for _ in range(WARMUP_CALLS):
                _, found = timed_ms(run, frames)
            cells[name] = Cell(detections=found)
        except Exception as error:  # an engine that breaks must not take the others down
            columns.fail(name, f"failed at batch {len(frames)}: {first_line(error)}")
            del live[name]
    order = orders(list(live))
    gc.collect()
    for _ in range(options.repeats):
        for name in next(order):
            if name not in live:
                continue
            time.sleep(options.settle_s)
            try:
                ms, _ = timed_ms(live[name], frames)
            except Exception as error:
                columns.fail(name, f"failed at batch {len(frames)}: {first_line(error)}")
                del live[name]
                cells.pop(name, None)
                continue
            cells[name].ms.append(ms / len(frames))
    return cells


def run_settings(options: Options, columns: Columns, frame: Image) -> list[Setting]:
    settings: list[Setting] = []
    for threads in options.threads:
        set_threads(threads)
        for size in options.sizes:
            detector, runs = columns.runners(size, threads, [frame])
            plan = detector.plan(frame)
            for batch in options.batches:
                frames = [frame.copy() for _ in range(batch)]
                setting = Setting(size, threads, batch, f"{plan.canvas_w}x{plan.canvas_h}")
                print(f"  {size} px, {threads} thread(s), batch {batch} ...", flush=True)
                setting.cells = measure(runs, frames, options, columns)
                settings.append(setting)
    return settings


@dataclass
class Breakdown:
    size: int
    threads: int
    canvas: str
    stages: dict[str, list[float]]
    theirs: dict[str, list[float]]


def breakdown(options: Options, columns: Columns, frame: Image) -> Breakdown:
    """Our preprocess / inference / postprocess at the goal setting, batch 1, with ultralytics'
    own per-stage figures (``Results.speed``) on the .pt taken in alternate rounds."""
    size = GOAL_SIZE if GOAL_SIZE in options.sizes else options.sizes[0]
    threads = GOAL_THREADS if GOAL_THREADS in options.threads else max(options.threads)
    set_threads(threads)
    detector = OnnxDetector(
        options.model, input_size=size, confidence=CONFIDENCE, iou=IOU, threads=threads
    )
    theirs = columns.ultralytics.get(UL_PT) if UL_PT not in columns.reasons else None
    if theirs is not None:
        theirs.runner(size, threads)
    stages: dict[str, list[float]] = {
        "preprocess": [],
        "inference": [],
        "postprocess": [],
        "end to end": [],
    }
    speeds: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": []}
    for round_index in range(WARMUP_CALLS + options.repeats):
        time.sleep(options.settle_s)
        marks = [time.perf_counter()]
        image = as_bgr(frame)
        plan = detector.plan(image)
        blob = detector.preprocess([image], [plan])
        marks.append(time.perf_counter())
        raw = detector._run(blob)
        marks.append(time.perf_counter())
        detector.postprocess(raw[0], plan)
        marks.append(time.perf_counter())
        warm = round_index >= WARMUP_CALLS
        if warm:
            for name, start, end in zip(stages, marks, marks[1:], strict=False):
                stages[name].append((end - start) * 1000)
            time.sleep(options.settle_s)
            stages["end to end"].append(timed_ms(ours(detector), [frame])[0])
        if theirs is not None:
            time.sleep(options.settle_s)
            try:
                speed = theirs.speed(frame, size)
            except Exception as error:
                columns.fail(UL_PT, f"failed in the breakdown: {first_line(error)}")
                theirs = None
                continue
            if warm:
                for name, values in speeds.items():
                    values.append(speed.get(name, math.nan))
    plan = detector.plan(frame)
    return Breakdown(size, threads, f"{plan.canvas_w}x{plan.canvas_h}", stages, speeds)


# --------------------------------------------------------------------------- printing


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def print_table(settings: Sequence[Setting], columns: Columns) -> None:
    names = columns.names
    print("\nPer-frame latency in ms, median / p95 over rounds (batch time / batch)")
    header = f"{'size':>4} {'thr':>3} {'batch':>5} {'canvas':>7}"
    header += "".join(f" {name:>15}" for name in names)
    ratios = [name for name in names if name != OURS]  # > 1: the other is faster
    widths = {name: max(14, len(name) + 5) for name in ratios}
    header += "".join(f" {'ours/' + name:>{widths[name]}}" for name in ratios)
    print(header)
    for setting in settings:
        line = f"{setting.size:>4} {setting.threads:>3} {setting.batch:>5} {setting.canvas:>7}"
        for name in names:
            cell = setting.cells.get(name)
            text = "n/a" if cell is None else f"{_ms(cell.p50)} / {_ms(cell.p95)}"
            line += f" {text:>15}"
        line += "".join(f" {_ratio(setting.ratio(name)):>{widths[name]}}" for name in ratios)
        print(line)
    if columns.reasons:
        print("n/a:")
        for name, reason in columns.reasons.items():
            print(f"  {name}: {reason}")
    if CV_DNN in names and columns.opencv.static:
        reason = columns.opencv.static_reason
        print(f"  {CV_DNN}: static size x size, batch-1 copies of the .pt ({reason})")
    counts = {
        name: cell.detections
        for name, cell in (settings[0].cells.items() if settings else ())
        if cell.detections >= 0
    }
    if counts:
        found = ", ".join(f"{name} {count}" for name, count in counts.items())
        print(f"Detections on the frame at the first setting (same work for all): {found}")


def print_goals(settings: Sequence[Setting]) -> None:
    print(
        "\nGoals: ours <= ultralytics at every setting;"
        f" ours <= {GOAL_MS:g} ms per frame at {GOAL_SIZE} px, {GOAL_THREADS} threads"
    )
    for name in (UL_PT, UL_ONNX):
        compared = [s for s in settings if not math.isnan(s.ratio(name))]
        if not compared:
            print(f"  {name} not measured: no comparison")
            continue
        slower = [s for s in compared if s.ratio(name) > 1.0]
        print(
            f"  ours faster than {name} at {len(compared) - len(slower)} of {len(compared)}"
            " settings (median of per-round ratios <= 1)"
        )
        for s in slower:
            print(
                f"    slower: {s.size} px, {s.threads} thr, batch {s.batch}:"
                f" ratio {s.ratio(name):.2f}"
            )
    goal = [s for s in settings if s.size == GOAL_SIZE and s.threads == GOAL_THREADS]
    if not goal:
        print(f"  {GOAL_SIZE} px, {GOAL_THREADS} threads not measured")
    for s in goal:
        for name in (OURS, SPIN):
            if name in s.cells:
                cell = s.cells[name]
                verdict = "meets goal" if cell.p50 <= GOAL_MS else "MISSES goal"
                print(
                    f"  {GOAL_SIZE} px, {GOAL_THREADS} thr, batch {s.batch}: {name}"
                    f" {cell.p50:.1f} ms median ({verdict}), p95 {cell.p95:.1f} ms"
                )


def print_breakdown(result: Breakdown) -> None:
    count = len(result.stages["end to end"])
    print(
        f"\nOurs by stage at {result.size} px, {result.threads} thread(s), batch 1"
        f" (canvas {result.canvas}; median / p95 ms over {count} rounds)"
    )
    have_theirs = any(result.theirs.values())
    print(f"{'stage':<12} {'ours':>13}" + (f" {'ul .pt speed':>13}" if have_theirs else ""))
    for name, values in result.stages.items():
        line = f"{name:<12} {_ms(percentile(values, 50)) + ' / ' + _ms(percentile(values, 95)):>13}"
        if have_theirs and name in result.theirs:
            theirs = result.theirs[name]
            line += f" {_ms(percentile(theirs, 50)) + ' / ' + _ms(percentile(theirs, 95)):>13}"
        print(line)
    if have_theirs:
        print("  (ul .pt speed: ultralytics' own Results.speed per stage, from alternate rounds)")


# --------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Options:
    model: Path
    pt: Path
    image: Path | None
    repeats: int
    sizes: tuple[int, ...]
    threads: tuple[int, ...]
    batches: tuple[int, ...]
    engines: tuple[str, ...]
    opencv_static: bool
    settle_s: float


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.detector",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="our ONNX model")
    parser.add_argument("--pt", type=Path, default=DEFAULT_PT, help="the same weights as .pt")
    parser.add_argument("--image", type=Path, help="a BGR image instead of the demo scene frame")
    parser.add_argument("--repeats", type=int, help="measured rounds per setting (30; quick 5)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="input sizes (320 416 512 640; quick 320)"
    )
    parser.add_argument("--threads", type=int, nargs="+", help="threads (1 2; quick 2)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument(
        "--opencv-static", action="store_true", help="OpenCV DNN on static copies per size"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 320 px, 2 threads, 5 rounds by default"
    )
    parser.add_argument(
        "--settle-ms",
        type=float,
        default=50.0,
        help="idle before each timed call, so the previous engine's spinning pools go quiet",
    )
    args = parser.parse_args(argv)
    engines = tuple(name for name in ENGINES if name in args.engines or name == OURS)
    sizes = tuple(args.sizes or ((320,) if args.quick else (320, 416, 512, 640)))
    threads = tuple(args.threads or ((2,) if args.quick else (1, 2)))
    repeats = args.repeats or (5 if args.quick else 30)
    if any(size % 32 or size <= 0 for size in sizes):
        parser.error("sizes must be positive multiples of 32")
    if repeats < 1 or min(threads) < 1 or min(args.batches) < 1:
        parser.error("repeats, threads and batches must be at least 1")
    return Options(
        args.model,
        args.pt,
        args.image,
        repeats,
        sizes,
        threads,
        tuple(args.batches),
        engines,
        args.opencv_static,
        args.settle_ms / 1000,
    )


def describe(options: Options, source: str, columns: Columns) -> None:
    versions = [
        f"onnxruntime {importlib.import_module('onnxruntime').__version__}",
        f"opencv {cv2.__version__}",
        f"numpy {np.__version__}",
    ]
    for name in ("torch", "ultralytics"):
        module = sys.modules.get(name)
        if module is not None:
            versions.append(f"{name} {module.__version__}")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"model {options.model}, weights {options.pt}, frame: {source}")
    print(columns.weights)
    print(
        f"{platform.python_version()}, {', '.join(versions)}; {os.cpu_count()} cores,"
        f" load average {load}"
    )
    print(
        f"{options.repeats} rounds per setting after {WARMUP_CALLS} warm-up calls per engine,"
        f" engines in a shuffled order each round, {options.settle_s * 1000:g} ms idle before"
        " each timed call"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Measure every setting, then the stage breakdown, then print the tables."""
    options = parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str((BENCH_DIR / "ultralytics").resolve()))
    frame, source = load_frame(options.image)
    columns = open_columns(options, frame)
    describe(options, source, columns)
    settings = run_settings(options, columns, frame)
    result = breakdown(options, columns, frame)
    print_table(settings, columns)
    print_goals(settings)
    print_breakdown(result)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average at the end {load} (other processes share the {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
