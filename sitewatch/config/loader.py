"""Load a YAML site configuration: environment substitution, paths, validation, clear errors."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from core.config_files import (
    ConfigError,
    Loc,
    Problem,
    pydantic_problem,
    read_mapping,
    substitute,
    with_line,
)
from detect.model_format import ModelFormat
from sitewatch.config.camera import local_file
from sitewatch.config.site import SiteConfig
from sitewatch.config.zone_files import ZoneError, merge_zone_files

PATH_FIELDS: tuple[tuple[str, ...], ...] = (
    ("storage", "data_dir"),
    ("mqtt", "tls", "ca_file"),
    ("mqtt", "tls", "cert_file"),
    ("mqtt", "tls", "key_file"),
)


class ModelFacts(Protocol):
    """What the loader needs to know about a model file."""

    @property
    def class_names(self) -> tuple[str, ...]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def fixed_input(self) -> bool: ...
    @property
    def format(self) -> str: ...


ModelReader = Callable[[Path], ModelFacts]


def load_config(
    path: Path,
    env: Mapping[str, str] | None = None,
    read_model: ModelReader | None = None,
) -> SiteConfig:
    """Read, substitute ``${VAR}``, resolve relative paths and validate ``path``.

    ``read_model`` opens each model file: its class names fill ``classes`` when the config
    omits them, and a fixed input size that differs from ``input_size`` is reported.
    Zones saved from the console (``<data_dir>/zones/<camera>.yaml``) replace the zones of
    their camera and are validated with the rest (``zone_files.merge_zone_files``).
    Raises ConfigError listing every problem found with its YAML path and line.
    """
    environment = os.environ if env is None else env
    tree, raw = read_mapping(path)
    problems: list[Problem] = []
    data = substitute(raw, environment, problems)
    _resolve_paths(data, path.parent.resolve())
    _resolve_camera_files(data, path.parent.resolve(), problems)
    _check_models(data, read_model, problems)
    if problems:
        raise ConfigError(path, [with_line(p, tree) for p in problems])
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as error:
        found = [pydantic_problem(i, _unknown_key) for i in error.errors(include_input=False)]
        raise ConfigError(path, [with_line(p, tree) for p in found]) from None
    try:
        return merge_zone_files(config)
    except ZoneError as error:
        source = error.source or path
        raise ConfigError(source, [Problem(p.path, p.message) for p in error.problems]) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    def resolve(container: Any, key: str) -> None:
        if isinstance(container, dict) and isinstance(container.get(key), str):
            candidate = Path(container[key]).expanduser()
            absolute = candidate if candidate.is_absolute() else base / candidate
            container[key] = os.path.normpath(absolute)

    for field_path in PATH_FIELDS:
        container: Any = data
        for part in field_path[:-1]:
            container = container.get(part) if isinstance(container, dict) else None
        resolve(container, field_path[-1])
    models = data.get("models")
    if isinstance(models, list):
        for model in models:
            resolve(model, "path")


def _resolve_camera_files(data: dict[str, Any], base: Path, problems: list[Problem]) -> None:
    """Camera files (``url``/``record_url`` as a path or ``file://``) resolved against the
    config's folder; an enabled camera's file must exist (a device such as ``/dev/video0``
    counts: it is no regular file, but a source PyAV opens)."""
    cameras = data.get("cameras")
    for index, camera in enumerate(cameras if isinstance(cameras, list) else []):
        for key in ("url", "record_url"):
            url = camera.get(key) if isinstance(camera, dict) else None
            if not isinstance(url, str) or not url or (file := local_file(url)) is None:
                continue
            absolute = os.path.normpath(base / Path(file).expanduser())
            camera[key] = f"file://{absolute}" if url.startswith("file://") else absolute
            if camera.get("enabled", True) is not False and not Path(absolute).exists():
                problems.append(Problem(f"cameras[{index}].{key}", f"file not found: {absolute}"))


def _check_models(
    data: dict[str, Any], read_model: ModelReader | None, problems: list[Problem]
) -> None:
    models = data.get("models")
    if not isinstance(models, list):
        return
    for index, model in enumerate(models):
        if not isinstance(model, dict) or not isinstance(model.get("path"), str):
            continue
        model_path = Path(model["path"])
        if not model_path.is_file():
            problems.append(Problem(f"models[{index}].path", f"file not found: {model_path}"))
            continue
        if read_model is None:
            continue
        try:
            facts = read_model(model_path)
        except (OSError, ValueError) as error:
            problems.append(Problem(f"models[{index}].path", f"cannot use model: {error}"))
            continue
        wanted = model.get("format", ModelFormat.ULTRALYTICS)
        if wanted in [layout.value for layout in ModelFormat] and wanted != facts.format:
            problems.append(
                Problem(
                    f"models[{index}].format",
                    f"the file is in the '{facts.format}' format, not '{wanted}' "
                    f"(set format: {facts.format})",
                )
            )
            continue
        classes = model.get("classes")
        if not classes:
            model["classes"] = list(facts.class_names)
        elif isinstance(classes, list) and len(classes) != len(facts.class_names):
            problems.append(
                Problem(
                    f"models[{index}].classes",
                    f"lists {len(classes)} classes but the model has {len(facts.class_names)} "
                    f"({', '.join(facts.class_names)})",
                )
            )
        size = model.get("input_size")
        if facts.fixed_input and isinstance(size, int) and size != facts.input_size:
            problems.append(
                Problem(
                    f"models[{index}].input_size",
                    f"{size} does not match the model, which takes fixed {facts.input_size} px "
                    "inputs (omit input_size, or export the model with dynamic=True)",
                )
            )


def _unknown_key(loc: Loc) -> str:
    """An unknown key, with the nearest allowed one and the list of those allowed."""
    allowed = _allowed_keys(loc[:-1])
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    message = f"unknown key '{loc[-1]}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    if allowed:
        message += "; allowed: " + ", ".join(allowed)
    return message


def _allowed_keys(loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` inside SiteConfig ([] if not a model)."""
    current: Any = SiteConfig
    for part in loc:
        current = _inner_model(current, part)
        if current is None:
            return []
    return list(current.model_fields) if _is_model(current) else []


def _inner_model(annotation: Any, part: str | int) -> Any:
    if _is_model(annotation) and isinstance(part, str):
        field = annotation.model_fields.get(part)
        return _unwrap(field.annotation) if field is not None else None
    if isinstance(part, int) and typing.get_origin(annotation) is list:
        return _unwrap(typing.get_args(annotation)[0])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated to the interesting type."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(inner[0]) if len(inner) == 1 else annotation
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
