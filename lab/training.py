"""Training and export recipe for our hazard detector (needs the heavy ``train`` extra).

ultralytics does the training; this module pins everything a reproducible run needs: offline
settings (no hub, no downloads, no automatic installs), model paths instead of bare names (a bare
``yolov8n.pt`` would trigger a download), a fixed seed, and the thread count of this machine
(ultralytics drops torch to one thread on a 2-core box).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TrainingError(RuntimeError):
    """A training or export request that cannot run, with the reason."""


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """One training run."""

    data: Path
    weights: Path
    out_dir: Path
    name: str = "hazards"
    image_size: int = 320
    epochs: int = 30
    hours: float | None = None
    batch: int = 32
    seed: int = 0
    workers: int = 2
    patience: int = 0
    fraction: float = 1.0
    cache: bool = True
    resume: bool = False
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)


def apply_offline_settings(config_dir: Path | None = None) -> None:
    """Keep ultralytics off the network: no hub, no downloads, no pip installs."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "1")
    directory = config_dir or Path(tempfile.gettempdir()) / "sitewatch-ultralytics"
    directory.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(directory))


def _import_ultralytics() -> Any:
    apply_offline_settings()
    try:
        import ultralytics
    except ImportError as error:
        raise TrainingError(
            "training needs the 'train' extra: pip install 'sitewatch[train]' "
            f"(torch, ultralytics; {error})"
        ) from error
    from ultralytics.utils import SETTINGS

    wanted = {
        "sync": False,
        "hub": False,
        "clearml": False,
        "comet": False,
        "dvc": False,
        "mlflow": False,
        "neptune": False,
        "raytune": False,
        "tensorboard": False,
        "wandb": False,
    }
    SETTINGS.update({key: value for key, value in wanted.items() if key in SETTINGS})
    return ultralytics


def _use_all_cores() -> None:
    """ultralytics leaves one core free (``NUM_THREADS = cpu_count - 1``) and resets torch to it
    when it picks the device: on a 2-core machine that halves training speed."""
    import torch
    from ultralytics.utils import torch_utils

    cores = os.cpu_count() or 1
    torch_utils.NUM_THREADS = cores
    torch.set_num_threads(cores)


# ultralytics arguments the recipe sets itself (a --set of them would be silently overridden or
# would break the offline, reproducible setup)
RESERVED = frozenset(
    {
        "data",
        "model",
        "project",
        "name",
        "exist_ok",
        "imgsz",
        "epochs",
        "time",
        "batch",
        "seed",
        "device",
        "resume",
        "fraction",
        "cache",
        "workers",
        "patience",
    }
)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` training overrides (``warmup_epochs=0.5``, ``cos_lr=true``) as typed values.

    Values are read as YAML scalars (numbers, booleans, strings). The recipe's own settings have
    their own options and are refused here, as are malformed items, naming the item.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise TrainingError(f"--set {item!r}: expected KEY=VALUE, such as warmup_epochs=0.5")
        if not key.isidentifier():
            raise TrainingError(f"--set {item!r}: {key!r} is not an argument name")
        if key in RESERVED:
            raise TrainingError(f"--set {item!r}: {key} has its own option (or is fixed)")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if not isinstance(value, int | float | bool | str):
            raise TrainingError(f"--set {item!r}: the value must be a number, boolean or word")
        overrides[key] = value
    return overrides


def check_weights(path: Path) -> Path:
    """The initial weights must be a local file (a bare name would be downloaded)."""
    if not path.is_file():
        raise TrainingError(f"initial weights {path} not found (give a path to a .pt or .yaml)")
    if path.suffix not in {".pt", ".yaml", ".yml"}:
        raise TrainingError(f"initial weights {path} must be a .pt checkpoint or a model .yaml")
    return path.resolve()


def train(settings: TrainSettings) -> Path:
    """Train (or resume) and return the path of the best checkpoint."""
    ultralytics = _import_ultralytics()
    if not settings.data.is_file():
        raise TrainingError(f"dataset YAML {settings.data} not found")
    weights = check_weights(settings.weights)
    _use_all_cores()
    model = ultralytics.YOLO(str(weights))
    if settings.resume:
        model.train(resume=True)
    else:
        arguments: dict[str, Any] = {
            "data": str(settings.data.resolve()),
            "imgsz": settings.image_size,
            "epochs": settings.epochs,
            "batch": settings.batch,
            "seed": settings.seed,
            "deterministic": True,
            "workers": settings.workers,
            "patience": settings.patience,
            "fraction": settings.fraction,
            "cache": "ram" if settings.cache else False,
            "device": settings.device,
            "project": str(settings.out_dir.resolve()),
            "name": settings.name,
            "exist_ok": True,
            "plots": True,
            "amp": settings.device != "cpu",
        }
        if settings.hours is not None:
            arguments["time"] = settings.hours
        arguments.update(settings.extra)
        model.train(**arguments)
    trainer = model.trainer
    best = Path(trainer.best) if trainer is not None else Path()
    if not best.is_file():
        raise TrainingError("training finished without a best checkpoint")
    return best


def export_onnx(weights: Path, image_size: int, out: Path) -> Path:
    """Export a checkpoint to ONNX (opset 17, static shape, simplified, metadata kept)."""
    ultralytics = _import_ultralytics()
    weights = check_weights(weights)
    model = ultralytics.YOLO(str(weights))
    exported = Path(
        model.export(
            format="onnx", imgsz=image_size, opset=17, simplify=True, dynamic=True, batch=1
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    exported.replace(out)
    return out
