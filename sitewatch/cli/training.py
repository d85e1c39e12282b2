"""``sitewatch train`` and ``sitewatch export``: the training recipe (needs the ``train`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli.common import err, out


def train_command(
    data: Annotated[Path, typer.Option(help="Dataset YAML (YOLO format, 'names' by class).")],
    weights: Annotated[
        Path, typer.Option(help="Initial weights: a local .pt checkpoint or a model .yaml.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Runs folder.")] = Path("runs"),
    name: Annotated[str, typer.Option(help="Run name (folder under --out).")] = "hazards",
    imgsz: Annotated[int, typer.Option(help="Training image size (multiple of 32).")] = 320,
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    hours: Annotated[
        float | None, typer.Option(help="Train for this long instead (schedule fitted to it).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1)] = 32,
    seed: int = 0,
    fraction: Annotated[
        float, typer.Option(min=0.001, max=1.0, help="Share of the training images to use.")
    ] = 1.0,
    device: Annotated[str, typer.Option(help="'cpu', or a CUDA device such as '0'.")] = "cpu",
    workers: Annotated[
        int, typer.Option(min=0, max=64, help="Data-loading processes (raise on a GPU machine).")
    ] = 2,
    resume: Annotated[
        bool, typer.Option(help="Resume the run whose last.pt is given as --weights.")
    ] = False,
    export: Annotated[
        Path | None, typer.Option(help="Also export the best weights to this .onnx file.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any other ultralytics training argument as KEY=VALUE (repeatable), "
            "such as --set warmup_epochs=0.5 --set close_mosaic=3.",
        ),
    ] = None,
) -> None:
    """Train a YOLO detector on a labelled dataset (ultralytics, offline; progress shown)."""
    from lab.training import TrainingError, TrainSettings, export_onnx, parse_overrides, train

    if imgsz % 32:
        err.print(f"--imgsz must be a multiple of 32, not {imgsz}")
        raise typer.Exit(2)
    try:
        extra = parse_overrides(overrides or [])
    except TrainingError as error:
        err.print(f"sitewatch train: {error}", markup=False)
        raise typer.Exit(2) from None
    settings = TrainSettings(
        data=data,
        weights=weights,
        out_dir=out_dir,
        name=name,
        image_size=imgsz,
        epochs=epochs,
        hours=hours,
        batch=batch,
        seed=seed,
        fraction=fraction,
        device=device,
        resume=resume,
        workers=workers,
        extra=extra,
    )
    try:
        best = train(settings)
        out.print(f"best weights: {best}")
        if export is not None:
            out.print(f"exported: {export_onnx(best, imgsz, export)}")
    except TrainingError as error:
        err.print(f"sitewatch train: {error}", markup=False)
        raise typer.Exit(2) from None


def export_command(
    weights: Annotated[Path, typer.Argument(help="Trained .pt checkpoint.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the .onnx file.")],
    imgsz: Annotated[int, typer.Option(help="Default input size recorded in the model.")] = 320,
) -> None:
    """Export a checkpoint to ONNX (dynamic batch and size, class names in the metadata)."""
    from lab.training import TrainingError, export_onnx  # the lab is imported only by its commands

    try:
        out.print(f"exported: {export_onnx(weights, imgsz, out_file)}")
    except TrainingError as error:
        err.print(f"sitewatch export: {error}", markup=False)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the commands to the CLI."""
    app.command("train")(train_command)
    app.command("export")(export_command)
