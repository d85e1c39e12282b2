"""Every error class of the project derives from core.errors.SitewatchError, so callers can
catch every foreseen failure at once (``except SitewatchError``) and let bugs through."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from core.errors import SitewatchError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "ingest", "detect", "alerts", "sitewatch", "hub", "lab")
NOT_IMPORTED_HERE = ("lab.training", "lab.onnx_to_checkpoint", "lab.curves")  # need torch


def project_errors() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            if info.name in NOT_IMPORTED_HERE or info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, BaseException) and value.__module__ == module.__name__:
                    found.append(value)
    return found


def test_every_error_class_derives_from_sitewatch_error() -> None:
    errors = project_errors()
    assert len(errors) >= 25  # the walk did find the project's errors
    strays = sorted(
        f"{e.__module__}.{e.__qualname__}" for e in errors if not issubclass(e, SitewatchError)
    )
    assert strays == []
