"""Zones drawn in the console, kept beside the configuration: ``<data_dir>/zones/<camera>.yaml``.

The hand-written site YAML stays as its author wrote it. When a camera has a zone file, its
zones replace that camera's ``zones`` from the YAML at load time (``merge_zone_files``, called
by ``load_config``), and go through the same validation as if they had been written there. A
file is versioned: every save from the console increments ``version`` (0 means "the zones of
the YAML, never saved from the console"), so that two admins saving at once cannot overwrite
each other unseen.

A file::

    # Zones of camera dock, saved from the sitewatch console ...
    camera: dock
    version: 3
    updated_by: Control room
    updated_at: '2026-11-03T06:05:09Z'
    zones:
    - {name: exit-1, kind: exit, points: [[0.1, 0.2], [0.3, 0.2], [0.3, 0.9]]}
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.config_files import FieldError
from core.errors import SitewatchError
from core.vocabulary import ZoneKind
from sitewatch.config.camera import Zone
from sitewatch.config.site import SiteConfig

ZONES_DIR = "zones"
MAX_ZONES = 32
FILE_KEYS = ("camera", "version", "updated_by", "updated_at", "zones")
HEADER = (
    "# Zones of camera {camera}, saved from the sitewatch console. They replace the zones of\n"
    "# this camera in the site configuration (sitewatch merges this file at load time).\n"
    "# Edit them in the console: a hand edit is checked the same way at the next start.\n"
)


@dataclass(frozen=True, slots=True)
class ZoneProblem:
    """One reason a zone list is refused: a stable ``code`` with its ``params`` (for the
    console's text in the user's language) and the English ``message``; ``path`` as in
    check-config (``zones[1].points[2]``)."""

    code: str
    message: str
    path: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ZoneError(SitewatchError, ValueError):
    """A zone list (or zone file) that cannot be used; ``problems`` says why."""

    def __init__(self, problems: Sequence[ZoneProblem], source: Path | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source is not None else ""
        super().__init__(where + "; ".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class ZoneFile:
    """A camera's saved zones."""

    camera: str
    version: int
    zones: tuple[Zone, ...]
    updated_by: str
    updated_at: str  # ISO 8601, UTC
    path: Path


def zone_file_path(data_dir: Path, camera: str) -> Path:
    """Where the zones of ``camera`` are kept."""
    return data_dir / ZONES_DIR / f"{camera}.yaml"


def _loc_text(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def zone_problem(
    item: Mapping[str, Any], names: Sequence[str], head: Sequence[str | int] = ()
) -> ZoneProblem:
    """One pydantic error of a zone list as a ZoneProblem. Its location (with the path of a
    FieldError cause) after ``head`` starts at the zone's index in the list; ``names`` are the
    names of the zones as sent (for the messages)."""
    cause = (item.get("ctx") or {}).get("error")
    loc = (*item["loc"], *(cause.path if isinstance(cause, FieldError) else ()))
    if tuple(loc[: len(head)]) == tuple(head):
        loc = loc[len(head) :]
    index = loc[0] if loc and isinstance(loc[0], int) else None
    zone = names[index] if index is not None and index < len(names) else ""
    message = str(item["msg"]).removeprefix("Value error, ")
    params: dict[str, Any] = {"zone": zone}
    if isinstance(cause, FieldError):
        message, code = cause.message, cause.code
        params.update(cause.params)
    elif len(loc) >= 2 and loc[1] == "name":
        code = "zone_name_invalid"
    else:
        code = "zone_invalid"
        params["reason"] = message
    return ZoneProblem(code, message, _loc_text(("zones", *loc)), params)


def check_zones(config: SiteConfig, camera: str, zones: Sequence[Mapping[str, Any]]) -> list[Zone]:
    """``zones`` (as sent by the console: mappings) for ``camera``, validated as if they were
    written in the site YAML — each zone, the camera (unique names) and the whole site (the
    obstacle classes its models know) — and each kind usable by the site's rules and models
    (``SiteConfig.zone_kind_problem``). ZoneError lists every problem; nothing is kept."""
    if len(zones) > MAX_ZONES:
        raise ZoneError(
            [
                ZoneProblem(
                    "zones_too_many", f"at most {MAX_ZONES} zones", "zones", {"max": MAX_ZONES}
                )
            ]
        )
    names = [str(z.get("name", "")) if isinstance(z, Mapping) else "" for z in zones]
    index = next(i for i, c in enumerate(config.cameras) if c.name == camera)
    data = config.model_dump()
    data["cameras"][index]["zones"] = [dict(z) if isinstance(z, Mapping) else z for z in zones]
    try:
        checked = SiteConfig.model_validate(data)
    except ValidationError as error:
        head = ("cameras", index, "zones")
        problems = [zone_problem(item, names, head) for item in error.errors(include_input=False)]
        raise ZoneError(problems) from None
    kept = checked.cameras[index].zones
    unusable = [
        ZoneProblem(
            "zone_kind_unusable",
            f"kind {zone.kind.value} cannot be used on this site ({why})",
            f"zones[{i}].kind",
            {"zone": zone.name, "kind": zone.kind.value, "why": why},
        )
        for i, zone in enumerate(kept)
        if (why := config.zone_kind_problem(zone.kind)) is not None
    ]
    if unusable:
        raise ZoneError(unusable)
    return list(kept)


def usable_kinds(config: SiteConfig) -> list[str]:
    """The zone kinds this site's cameras can use."""
    return [kind.value for kind in ZoneKind if config.zone_kind_problem(kind) is None]


def read_zone_file(data_dir: Path, camera: str) -> ZoneFile | None:
    """The saved zones of ``camera`` (None without a file); ZoneError names what is wrong."""
    path = zone_file_path(data_dir, camera)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ZoneError(
            [ZoneProblem("zone_file", f"cannot read: {error.strerror}")], path
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ZoneError([ZoneProblem("zone_file", f"invalid YAML: {error}")], path) from None
    if not isinstance(raw, dict):
        raise ZoneError([ZoneProblem("zone_file", "the file must hold a mapping")], path)
    problems = [
        ZoneProblem("zone_file", f"unknown key '{key}'; allowed: {', '.join(FILE_KEYS)}", str(key))
        for key in raw
        if key not in FILE_KEYS
    ]
    if raw.get("camera") != camera:
        problems.append(
            ZoneProblem(
                "zone_file", f"names camera {raw.get('camera')!r}, not {camera!r}", "camera"
            )
        )
    version = raw.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(ZoneProblem("zone_file", "version must be a whole number >= 1", "version"))
    zones = raw.get("zones")
    if not isinstance(zones, list):
        problems.append(ZoneProblem("zone_file", "zones must be a list", "zones"))
    if problems:
        raise ZoneError(problems, path)
    assert isinstance(zones, list) and isinstance(version, int)
    parsed: list[Zone] = []
    names = [str(z.get("name", "")) if isinstance(z, dict) else "" for z in zones]
    for position, item in enumerate(zones):
        try:
            parsed.append(Zone.model_validate(item))
        except ValidationError as error:
            for problem in error.errors(include_input=False):
                located = {**problem, "loc": (position, *problem["loc"])}
                problems.append(zone_problem(located, names))
    if problems:
        raise ZoneError(problems, path)
    return ZoneFile(
        camera,
        version,
        tuple(parsed),
        str(raw.get("updated_by", "")),
        str(raw.get("updated_at", "")),
        path,
    )


def write_zone_file(
    data_dir: Path, camera: str, version: int, zones: Sequence[Zone], by: str, at: float
) -> ZoneFile:
    """Writes the zones of ``camera`` atomically (a temporary file renamed over the old one,
    synced first: a crash leaves the old file or the new one, never half of one)."""
    path = zone_file_path(data_dir, camera)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    document = {
        "camera": camera,
        "version": version,
        "updated_by": by,
        "updated_at": stamp,
        "zones": [zone.model_dump(mode="json", exclude_defaults=True) for zone in zones],
    }
    text = HEADER.format(camera=camera) + yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, default_flow_style=None
    )
    handle, temporary = tempfile.mkstemp(prefix=f".{camera}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ZoneFile(camera, version, tuple(zones), by, stamp, path)


def zone_files(config: SiteConfig) -> dict[str, ZoneFile]:
    """The zone files of the configured cameras, by camera (ZoneError for a bad one)."""
    found: dict[str, ZoneFile] = {}
    for camera in config.cameras:
        saved = read_zone_file(config.storage.data_dir, camera.name)
        if saved is not None:
            found[camera.name] = saved
    return found


def merge_zone_files(config: SiteConfig) -> SiteConfig:
    """``config`` with each camera's zones replaced by its zone file's, validated again as a
    whole (ZoneError with the file and the problems when the result is not a valid config)."""
    saved = zone_files(config)
    if not saved:
        return config
    data = config.model_dump()
    for index, camera in enumerate(config.cameras):
        if camera.name in saved:
            data["cameras"][index]["zones"] = [
                zone.model_dump() for zone in saved[camera.name].zones
            ]
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as error:
        problems = [
            ZoneProblem(
                "zone_file", str(p["msg"]).removeprefix("Value error, "), _loc_text(p["loc"])
            )
            for p in error.errors(include_input=False)
        ]
        raise ZoneError(problems, config.storage.data_dir / ZONES_DIR) from None
