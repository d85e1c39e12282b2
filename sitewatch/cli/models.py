"""`sitewatch eval` and `sitewatch detect`: measure a model on labelled data, run it on images."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import cv2
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from alerts.evidence import draw_boxes
from detect.detections import Detections
from detect.engine import OPERATING_CONFIDENCE, ModelError, OnnxDetector
from detect.image_files import collect_images, read_image
from detect.observations import Box
from sitewatch.cli.common import err, out

if TYPE_CHECKING:
    from lab.evaluation import EvaluationResult


# models/ of the checkout the sitewatch package runs from (a clone or an editable install),
# wherever the command is started
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "hazards.onnx"
RESULTS_FILE = "detections.json"
PROGRESS_FROM = 20  # files; fewer get one line each instead of a progress bar

ModelOption = Annotated[Path, typer.Option("--model", "-m", help="ONNX detect model.")]
ConfOption = Annotated[
    float, typer.Option("--conf", min=0.0, max=1.0, help="Confidence threshold (operating point).")
]
ImageSizeOption = Annotated[
    int | None,
    typer.Option("--imgsz", help="Model input size in px (default: the model's own).", min=32),
]
ThreadsOption = Annotated[
    int | None, typer.Option("--threads", min=1, help="Inference threads (default: all cores).")
]


@contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Progress]:
    """A transient progress bar on stderr (nothing when disabled)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not enabled) as progress:
        progress.add_task(label, total=total)
        yield progress


def _threads(threads: int | None) -> int:
    return threads or os.cpu_count() or 1


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def evaluation_table(result: EvaluationResult) -> Table:
    """Per-class figures and the mean, as printed by `sitewatch eval`."""
    conf = f"{result.operating_confidence:g}"
    table = Table(
        "class",
        "images",
        "instances",
        f"P@{conf}",
        f"R@{conf}",
        "AP50",
        box=None,
        pad_edge=False,
    )
    for c in result.classes:
        table.add_row(
            c.name,
            str(c.images),
            str(c.instances),
            _figure(c.precision if c.detections or c.instances else None),
            _figure(c.recall if c.instances else None),
            _figure(c.ap50),
        )
    scored = [c for c in result.classes if c.instances]
    mean_p = sum(c.precision for c in scored) / len(scored) if scored else None
    mean_r = sum(c.recall for c in scored) / len(scored) if scored else None
    table.add_section()
    table.add_row(
        "all",
        str(result.images),
        str(result.instances),
        _figure(mean_p),
        _figure(mean_r),
        f"[bold]{_figure(result.map50)}[/]",
    )
    return table


def eval_command(
    model: ModelOption,
    data: Annotated[
        Path,
        typer.Option(
            "--data", "-d", help="Dataset folder (images/, labels/) or data YAML (val split)."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON to stdout.")] = False,
    imgsz: ImageSizeOption = None,
    conf: ConfOption = OPERATING_CONFIDENCE,
    threads: ThreadsOption = None,
    multi_label: Annotated[
        bool,
        typer.Option(
            "--multi-label",
            help="Score every class of a box, as `yolo val` does (default: the best class, "
            "as sitewatch runs).",
        ),
    ] = False,
) -> None:
    """Measure a model on a labelled YOLO dataset: per-class P and R at --conf, AP50, mAP50."""
    from lab.evaluation import evaluate_model  # the lab is imported only by its commands
    from lab.yolo_dataset import DatasetError

    try:
        with progress_bar(0, "evaluating") as progress:
            task = progress.task_ids[0]
            result = evaluate_model(
                model,
                data,
                image_size=imgsz,
                operating_confidence=conf,
                threads=_threads(threads),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                multi_label=multi_label,
            )
    except (ModelError, DatasetError) as error:
        err.print(f"sitewatch eval: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    for path in result.unreadable_images:
        err.print(f"skipped unreadable image {path}", markup=False, highlight=False)
    for name in result.missing_classes:
        err.print(f"[yellow]the model has no class '{name}': not evaluated[/]")
    if as_json:
        out.print(json.dumps(result.to_dict(), indent=2), markup=False, highlight=False)
        return
    out.print(
        f"{result.model} on {result.data}: {result.images} images at {result.image_size} px, "
        f"{result.seconds:.1f} s",
        markup=False,
        highlight=False,
    )
    out.print(evaluation_table(result))


class OutputNames:
    """File names in the output folder: the input's name, numbered when it is already taken."""

    def __init__(self, reserved: Sequence[str] = ()) -> None:
        self._taken = {name.casefold() for name in reserved}

    def claim(self, source: Path) -> str:
        """A free name for an annotated copy of ``source``."""
        name, number = source.name, 1
        while name.casefold() in self._taken:
            name = f"{source.stem}-{number}{source.suffix}"
            number += 1
        self._taken.add(name.casefold())
        return name


def boxes_of(detections: Detections) -> list[Box]:
    """Detections as drawable boxes."""
    return [
        Box(label, float(score), *(float(v) for v in xyxy))
        for label, score, xyxy in zip(
            detections.labels, detections.confidence, detections.xyxy, strict=True
        )
    ]


def _summary(detections: Detections) -> str:
    if not len(detections):
        return "nothing found"
    counts: dict[str, int] = {}
    for label in detections.labels:
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))


def detect_command(
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (searched deeply).")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for annotated copies and detections.json.")
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="ONNX detect model [default: models/hazards.onnx beside the sitewatch package]",
            show_default=False,
        ),
    ] = None,
    conf: ConfOption = OPERATING_CONFIDENCE,
    imgsz: ImageSizeOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Detect objects in images: annotated copies and DIR/detections.json (exit 1 if an image
    could not be read)."""
    if model is None:
        model = DEFAULT_MODEL
        if not model.is_file():
            err.print(
                f"sitewatch detect: no default model at {model} (this sitewatch was installed "
                "without the models/ folder of its repository); pass --model PATH",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(2)
    try:
        files = collect_images(paths, exclude=out_dir)
    except FileNotFoundError as error:
        err.print(f"sitewatch detect: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    if not files:
        err.print("sitewatch detect: no images (.jpg, .jpeg, .png, .bmp, .webp) in the given paths")
        raise typer.Exit(2)
    try:
        detector = OnnxDetector(model, input_size=imgsz, confidence=conf, threads=_threads(threads))
    except ModelError as error:
        err.print(f"sitewatch detect: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    names = OutputNames(reserved=[RESULTS_FILE])
    records: list[dict[str, Any]] = []
    failed: list[tuple[Path, str]] = []
    many = len(files) >= PROGRESS_FROM
    with progress_bar(len(files), "detecting", enabled=many) as progress:
        for path in files:
            progress.advance(progress.task_ids[0])
            image = read_image(path)
            if image is None:
                failed.append((path, "not a readable image"))
                continue
            found = detector.detect(image)
            annotated = image.copy()
            draw_boxes(annotated, boxes_of(found))
            name = names.claim(path)
            if not cv2.imwrite(str(out_dir / name), annotated):
                failed.append((path, f"cannot write {out_dir / name}"))
                continue
            height, width = image.shape[:2]
            records.append(
                {
                    "image": str(path),
                    "annotated": name,
                    "width": width,
                    "height": height,
                    "detections": found.to_records(),
                }
            )
            if not many:
                out.print(f"{path}: {_summary(found)}", markup=False, highlight=False)
    (out_dir / RESULTS_FILE).write_text(json.dumps(records, indent=2) + "\n")
    for path, reason in failed:
        err.print(f"skipped {path}: {reason}", markup=False, highlight=False)
    total = sum(len(r["detections"]) for r in records)
    out.print(
        f"{len(records)} image(s), {total} detection(s) → {out_dir}/ ({RESULTS_FILE})"
        + (f"; {len(failed)} file(s) skipped" if failed else ""),
        markup=False,
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `eval` and `detect` to the command line."""
    app.command("eval")(eval_command)
    app.command("detect")(detect_command)
