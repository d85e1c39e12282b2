"""Cameras and their zones."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from core.config_files import NAME_PATTERN, FieldError, Section
from core.geometry import Point, polygon_area, self_intersection
from core.vocabulary import ZoneKind

URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "file://")
SCHEME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # what a URL starts with


def local_file(url: str) -> str | None:
    """The path of a camera URL that names a local file (``file://PATH`` or a bare path),
    None for a stream URL."""
    if url.startswith("file://"):
        return url.removeprefix("file://")
    return None if SCHEME_PATTERN.match(url) else url


class Coordinates(StrEnum):
    """How zone points are given."""

    NORMALIZED = "normalized"
    PIXELS = "pixels"


class Decode(StrEnum):
    """Which frames of the detect stream are decoded."""

    ALL = "all"
    KEYFRAMES = "keyframes"


class Transport(StrEnum):
    """RTSP transport."""

    TCP = "tcp"
    UDP = "udp"


class Zone(Section):
    """A polygon on one camera's image."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, description="Zone name, unique per camera.")]
    kind: ZoneKind = Field(description="exit | hardhat_required | flame_allowed | ignore")
    points: list[Point] = Field(description="Polygon vertices [x, y], in order.")
    coordinates: Coordinates = Field(
        default=Coordinates.NORMALIZED,
        description="normalized (0..1 of width/height) or pixels (of the decoded stream).",
    )
    obstacle_classes: list[str] = Field(
        default_factory=list,
        description="Exit zones only: detector classes that count as obstacles in this zone.",
    )

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: list[Point]) -> list[Point]:
        if len(points) < 3:
            raise FieldError(
                (),
                f"polygon needs at least 3 points, got {len(points)}",
                "zone_too_few_points",
                count=len(points),
            )
        crossing = self_intersection(points)
        if crossing is not None:
            raise FieldError(
                (),
                f"polygon edges {crossing[0]} and {crossing[1]} cross each other",
                "zone_self_intersecting",
                first=crossing[0],
                second=crossing[1],
            )
        if polygon_area(points) <= 0.0:
            raise FieldError(
                (), "polygon has zero area (points are collinear or repeated)", "zone_zero_area"
            )
        return points

    @model_validator(mode="after")
    def _coordinates_in_range(self) -> Self:
        for index, (x, y) in enumerate(self.points):
            if self.coordinates is Coordinates.NORMALIZED and not (0 <= x <= 1 and 0 <= y <= 1):
                raise FieldError(
                    ("points", index),
                    f"normalized coordinates must lie within 0..1, got [{x:g}, {y:g}]"
                    " (set `coordinates: pixels` for pixel coordinates)",
                    "zone_outside_frame",
                    index=index,
                )
            if x < 0 or y < 0:
                raise FieldError(
                    ("points", index),
                    f"coordinates must not be negative: [{x}, {y}]",
                    "zone_outside_frame",
                    index=index,
                )
        if self.obstacle_classes and self.kind is not ZoneKind.EXIT:
            raise FieldError(
                ("obstacle_classes",),
                "only exit zones take obstacle_classes",
                "zone_obstacles_not_exit",
            )
        return self


class Camera(Section):
    """One camera stream."""

    name: Annotated[
        str,
        Field(
            pattern=NAME_PATTERN,
            description="Camera name: lower case letters, digits, '-' and '_' (used in topics).",
        ),
    ]
    url: str = Field(
        min_length=1,
        description="Stream URL (rtsp://, rtsps://, http(s)://, file://) or the path of a video "
        "file (relative to the config file). Put credentials in environment variables: "
        "rtsp://${CAM_USER}:${CAM_PASS}@host/stream",
    )
    record_url: str | None = Field(
        default=None,
        description="Optional main stream recorded for clips while `url` (a substream) is "
        "analysed; packets only, never decoded.",
    )
    transport: Transport = Field(default=Transport.TCP, description="RTSP transport.")
    detect_fps: float = Field(default=2.0, gt=0, le=30, description="Frames analysed per second.")
    decode: Decode = Field(
        default=Decode.ALL,
        description="all frames, or keyframes only (far less CPU; for slow checks only).",
    )
    max_width: int | None = Field(
        default=None, ge=64, le=7680, description="Downscale wider frames for analysis."
    )
    stall_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="No frame for this long: the camera is stalled."
    )
    buffer_seconds: float = Field(
        default=10.0, ge=0, le=120, description="Packets kept for pre-roll clips (0: none)."
    )
    loop: bool = Field(default=True, description="Local files start again when they end.")
    enabled: bool = True
    zones: list[Zone] = Field(default_factory=list)

    @field_validator("url", "record_url")
    @classmethod
    def _url_scheme(cls, url: str | None) -> str | None:
        if url is not None and SCHEME_PATTERN.match(url) and not url.startswith(URL_SCHEMES):
            raise ValueError(
                "url must start with one of " + ", ".join(URL_SCHEMES) + " or be a file path"
            )
        return url

    @model_validator(mode="after")
    def _unique_zone_names(self) -> Self:
        seen: set[str] = set()
        for index, zone in enumerate(self.zones):
            if zone.name in seen:
                raise FieldError(
                    ("zones", index, "name"),
                    f"duplicate zone name '{zone.name}'",
                    "zone_name_duplicate",
                )
            seen.add(zone.name)
        return self
