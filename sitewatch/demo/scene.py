"""Generated demo video: a warehouse aisle seen from a ceiling CCTV camera.

The aisle ends at a far wall with an emergency exit. A worker walks by now
and then (never through the exit zone); from ``SceneSpec.obstacle_at_s`` a
pallet of boxes slides into the floor area in front of the exit door
(``EXIT_ZONE``) within ``OBSTACLE_SLIDE_S`` and stays there (unless
``SceneSpec.obstacle`` is off). With ``SceneSpec.light_switch_period_s`` set,
the hall lights cycle on -> dim -> off -> on ... (``LIGHT_STATES``), switching
at once every period, as high-bay LEDs do.

The static background is ray cast and drawn once (2x supersampled, with a
camera-depth map); moving things are drawn per frame and depth tested
against it, so racks hide what walks behind them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from sitewatch.demo.video_file import ENCODING, write_camera_video

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
Reals = npt.NDArray[np.floating[Any]]
Pixels = npt.NDArray[np.int32]  # fixed-point polygon, 4 fractional bits (cv2 shift=4)
Mask = npt.NDArray[np.bool_]
Color = tuple[int, int, int]
Vec3 = tuple[float, float, float]

SCENE_VERSION = 1  # bump when the pictures change, so ensure_scene re-renders
OBSTACLE_SLIDE_S = 1.5  # the pallet is in place this long after obstacle_at_s

# Camera: pinhole at (0, _CAM_Y, 0), looking along +Z, pitched down.
_CAM_Y = 5.0
_PITCH = math.radians(27.0)
_FX = 0.6  # focal length as a fraction of the frame width
_FY = _FX * 16.0 / 9.0  # square pixels on a 16:9 frame
_SIN, _COS = math.sin(_PITCH), math.cos(_PITCH)

# World, in metres: X right, Y up, Z away from the camera.
_WALL_Z = 9.0  # far wall with the exit door
_SIDE_X = 6.5  # side walls of the hall
_CEIL_Y = 5.8
_RACK_IN, _RACK_OUT, _RACK_TOP = 1.8, 2.9, 4.0
_RACK_END_Z = _WALL_Z - 2.6  # a cross aisle runs along the far wall
_RACK_LEVELS = (0.0, 1.35, 2.7)
_LEFT_RUNS = ((0.0, 4.2), (5.3, _RACK_END_Z))  # a passage between them
_RIGHT_RUNS = ((0.0, _RACK_END_Z),)
_DOOR_HALF, _DOOR_H = 0.75, 2.2
_ZONE_HALF, _ZONE_DEPTH = 1.1, 2.2
_LAMPS: tuple[Vec3, ...] = ((-2.4, 4.4, 4.5), (2.4, 4.4, 4.5), (0.0, 4.4, 7.4))

# The blocking load and the walking worker.
_LOAD_X_START, _LOAD_X_END = 3.4, 0.05
_LOAD_Z0, _LOAD_Z1 = _WALL_Z - _ZONE_DEPTH + 0.2, _WALL_Z - 0.55
_PERSON_H, _WALK_SPEED, _FIRST_WALK_S, _WALK_EVERY_S = 1.75, 1.4, 2.0, 15.0
_PASSAGE_Z = (_LEFT_RUNS[0][1] + _LEFT_RUNS[1][0]) / 2
_WALK: tuple[tuple[float, float], ...] = ((-3.8, _PASSAGE_Z), (-1.35, _PASSAGE_Z), (-1.35, 1.6))

_CARDBOARD: tuple[Color, ...] = ((88, 138, 184), (76, 124, 170), (102, 150, 192), (70, 112, 150))
_TAPE: Color = (128, 176, 208)
_WOOD: Color = (118, 163, 196)
_UPRIGHT: Color = (150, 86, 28)
_BEAM: Color = (24, 112, 232)
_VEST: Color = (40, 236, 206)
_SKIN: Color = (120, 150, 200)
_SIGN_GREEN: Color = (70, 190, 30)
_WHITE: Color = (245, 250, 245)
_CLOCK_START = datetime(2026, 11, 28, 14, 0, 0)


@dataclass(frozen=True)
class SceneSpec:
    """What to render; the same spec always gives the same frames."""

    width: int = 1280
    height: int = 720
    fps: int = 25
    duration_s: float = 40.0
    obstacle_at_s: float = 8.0  # when the obstacle starts entering the exit zone
    seed: int = 7
    crf: int = 23  # x264 quality: lower is more bits (18 and below looks like a real camera's)
    obstacle: bool = True  # False: the exit stays clear all along (obstacle_at_s is ignored)
    light_switch_period_s: float | None = None  # None: lights stay on; else see LIGHT_STATES


# --------------------------------------------------------------------------- camera


def _project(points: Floats) -> tuple[Floats, Floats]:
    """World points (N, 3) to normalised image coords (N, 2) and camera depth (N,)."""
    x, y, z = points[:, 0], points[:, 1] - _CAM_Y, points[:, 2]
    depth = np.maximum(z * _COS - y * _SIN, 0.05)
    up = y * _COS + z * _SIN
    uv = np.stack([0.5 + _FX * x / depth, 0.5 - _FY * up / depth], axis=-1)
    return uv.astype(np.float32), depth.astype(np.float32)


def _pts(points: Sequence[Vec3]) -> Floats:
    return np.asarray(points, dtype=np.float32)


def _plane_x(x: float, y0: float, y1: float, z0: float, z1: float) -> Floats:
    return _pts([(x, y0, z0), (x, y0, z1), (x, y1, z1), (x, y1, z0)])


def _plane_y(y: float, x0: float, x1: float, z0: float, z1: float) -> Floats:
    return _pts([(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)])


def _plane_z(z: float, x0: float, x1: float, y0: float, y1: float) -> Floats:
    return _pts([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)])


def _exit_zone_normalised() -> tuple[tuple[float, float], ...]:
    floor = _plane_y(0.0, -_ZONE_HALF, _ZONE_HALF, _WALL_Z - _ZONE_DEPTH, _WALL_Z - 0.02)
    uv, _ = _project(floor)
    return tuple((round(float(u), 4), round(float(v), 4)) for u, v in uv)


EXIT_ZONE: tuple[tuple[float, float], ...] = _exit_zone_normalised()
"""The floor in front of the exit door, as a polygon in normalised x, y (0..1)."""


def exit_zone_pixels(spec: SceneSpec) -> npt.NDArray[np.int32]:
    """``EXIT_ZONE`` in pixels of a frame of ``spec`` (N x 2, int32)."""
    scale = np.array([spec.width, spec.height], dtype=np.float64)
    return np.round(np.asarray(EXIT_ZONE, dtype=np.float64) * scale).astype(np.int32)


# --------------------------------------------------------------------------- canvas


@dataclass
class _Canvas:
    """A BGR image with a camera-depth map, possibly a window (at ``origin``) of a frame.

    With ``alpha`` set it also records coverage, for merging into another canvas.
    """

    img: Image
    depth: Floats
    frame: tuple[int, int]  # full frame width, height
    origin: tuple[int, int] = (0, 0)
    alpha: Image | None = None

    def pixels(self, points: Floats) -> tuple[Pixels, float]:
        """Fixed-point pixel polygon and mean camera depth of world points."""
        uv, depth = _project(points)
        px = uv * np.array(self.frame, np.float32) - np.array(self.origin, np.float32)
        return np.clip(px * 16.0, -1e7, 1e7).astype(np.int32), float(depth.mean())

    def fill(self, px: Pixels, color: Color, depth: float) -> None:
        cv2.fillPoly(self.img, [px], color, cv2.LINE_AA, 4)
        cv2.fillPoly(self.depth, [px], depth, cv2.LINE_8, 4)
        if self.alpha is not None:
            cv2.fillPoly(self.alpha, [px], 255, cv2.LINE_AA, 4)

    def poly(self, points: Floats, color: Color) -> None:
        px, depth = self.pixels(points)
        self.fill(px, color, depth)

    def outline(self, points: Floats, color: Color) -> None:
        px, _ = self.pixels(points)
        cv2.polylines(self.img, [px], True, color, 1, cv2.LINE_AA, 4)


def _shade(color: Color, factor: float) -> Color:
    b, g, r = (min(255, max(0, round(c * factor))) for c in color)
    return (b, g, r)


# --------------------------------------------------------------------------- boxes


@dataclass(frozen=True)
class _Box:
    x0: float
    x1: float
    y0: float
    y1: float
    z0: float
    z1: float
    color: Color
    tape: bool = False
    edges: bool = True

    def moved(self, dx: float = 0.0, dy: float = 0.0) -> _Box:
        return replace(self, x0=self.x0 + dx, x1=self.x1 + dx, y0=self.y0 + dy, y1=self.y1 + dy)


def _box_faces(b: _Box) -> list[tuple[Floats, float]]:
    """The faces of ``b`` that the camera sees, each with a light factor."""
    faces = [(_plane_z(b.z0, b.x0, b.x1, b.y0, b.y1), 0.8)]
    if b.x0 > 0:
        faces.append((_plane_x(b.x0, b.y0, b.y1, b.z0, b.z1), 0.66))
    elif b.x1 < 0:
        faces.append((_plane_x(b.x1, b.y0, b.y1, b.z0, b.z1), 0.7))
    if b.y1 < _CAM_Y:
        faces.append((_plane_y(b.y1, b.x0, b.x1, b.z0, b.z1), 1.0))
    return faces


def _tape(b: _Box) -> list[tuple[Floats, float]]:
    """Packing tape over the top and down the front of a box."""
    xc, half = (b.x0 + b.x1) / 2, min(0.045, (b.x1 - b.x0) * 0.12)
    top = _plane_y(b.y1 + 0.002, xc - half, xc + half, b.z0, b.z1)
    front = _plane_z(b.z0 - 0.002, xc - half, xc + half, b.y1 - 0.35 * (b.y1 - b.y0), b.y1)
    return [(top, 1.0), (front, 0.8)]


def _draw_box(canvas: _Canvas, b: _Box) -> None:
    for face, light in _box_faces(b):
        canvas.poly(face, _shade(b.color, light))
        if b.edges:
            canvas.outline(face, _shade(b.color, light * 0.55))
    for strip, light in _tape(b) if b.tape else []:
        canvas.poly(strip, _shade(_TAPE, light))


def _draw_stack(canvas: _Canvas, boxes: Sequence[_Box]) -> None:
    """Draw one stack of boxes, hidden ones first.

    The camera is above, in front of and between the boxes: lower layers
    first, then far before near, then outer before inner.
    """
    for b in sorted(boxes, key=lambda b: (b.y0, -b.z0, -min(abs(b.x0), abs(b.x1)))):
        _draw_box(canvas, b)


def _pallet(x0: float, x1: float, z0: float, z1: float) -> list[_Box]:
    """A wooden pallet: a deck on three blocks, dark fork pockets between them."""
    boxes = [_Box(x0 + 0.05, x1 - 0.05, 0.0, 0.1, z0 + 0.05, z1, (34, 38, 40), edges=False)]
    for bx in np.linspace(x0, x1 - 0.14, 3):
        boxes.append(_Box(float(bx), float(bx) + 0.14, 0.0, 0.1, z0, z1, _WOOD))
    boxes.append(_Box(x0, x1, 0.1, 0.14, z0, z1, _shade(_WOOD, 1.05)))
    return boxes


def _grid(xs: Floats, zs: Floats, y: float, h: float, colors: Iterator[Color]) -> list[_Box]:
    """One layer of taped boxes on the cells of an X by Z grid."""
    cells = itertools.product(itertools.pairwise(xs.tolist()), itertools.pairwise(zs.tolist()))
    return [
        _Box(xa + 0.01, xb - 0.01, y, y + h, za + 0.01, zb - 0.01, next(colors), tape=True)
        for (xa, xb), (za, zb) in cells
    ]


def _tints(base: Color, rng: np.random.Generator, spread: float) -> Iterator[Color]:
    while True:
        yield _shade(base, float(rng.uniform(1 - spread, 1 + spread)))


def _stack(x0: float, x1: float, z0: float, z1: float, rng: np.random.Generator) -> list[_Box]:
    """A pallet with two to three layers of 2 x 2 cardboard boxes."""
    colors = _tints(_CARDBOARD[int(rng.integers(len(_CARDBOARD)))], rng, 0.08)
    xs, zs = np.linspace(x0, x1, 3, dtype=np.float32), np.linspace(z0, z1, 3, dtype=np.float32)
    boxes, y = _pallet(x0, x1, z0, z1), 0.14
    for _ in range(int(rng.integers(2, 4))):
        h = float(rng.uniform(0.28, 0.4))
        boxes += _grid(xs, zs, y, h, colors)
        y += h + 0.005
    return boxes


# --------------------------------------------------------------------------- ray cast


@dataclass(frozen=True)
class _Hits:
    """Per pixel: which plane the view ray hits first, where, and at what depth."""

    surface: npt.NDArray[np.intp]  # 0 floor, 1 ceiling, 2 far wall, 3 side walls
    depth: Floats
    x: Floats
    y: Floats
    z: Floats


def _ray_cast(w: int, h: int) -> _Hits:
    xc = ((np.arange(w, dtype=np.float32) + 0.5) / w - 0.5) / np.float32(_FX)
    yc = (0.5 - (np.arange(h, dtype=np.float32) + 0.5) / h) / np.float32(_FY)
    dx = np.broadcast_to(xc[None, :], (h, w))
    dy = np.broadcast_to((yc * np.float32(_COS) - np.float32(_SIN))[:, None], (h, w))
    dz = np.broadcast_to((yc * np.float32(_SIN) + np.float32(_COS))[:, None], (h, w))
    with np.errstate(divide="ignore"):
        planes = [
            np.where(dy < 0, -_CAM_Y / dy, np.inf),
            np.where(dy > 0, (_CEIL_Y - _CAM_Y) / dy, np.inf),
            np.where(dz > 0, _WALL_Z / dz, np.inf),
            np.where(dx != 0, _SIDE_X / np.abs(dx), np.inf),
        ]
    t = np.stack(planes).astype(np.float32)
    surface = np.argmin(t, axis=0)
    depth = np.take_along_axis(t, surface[None], axis=0)[0]
    return _Hits(surface, depth, dx * depth, _CAM_Y + dy * depth, dz * depth)


def _value_noise(rng: np.random.Generator, cells: int, u: Reals, v: Reals) -> Floats:
    """Smooth noise in -1..1 at texture coords ``u, v`` (wrapping every 1.0)."""
    grid = rng.uniform(-1, 1, (cells + 3, cells + 3)).astype(np.float32)
    tex = cv2.resize(grid, (512, 512), interpolation=cv2.INTER_CUBIC)
    mu = (np.mod(u, 1.0) * 511).astype(np.float32)
    mv = (np.mod(v, 1.0) * 511).astype(np.float32)
    return np.asarray(cv2.remap(tex, mu, mv, cv2.INTER_LINEAR), dtype=np.float32)


def _rgb(tone: Floats, base: Color) -> Floats:
    return (tone[..., None] * np.asarray(base, dtype=np.float32)).astype(np.float32)


def _near(value: Floats, center: float, half: float) -> Mask:
    return np.asarray(np.abs(value - center) < half, dtype=np.bool_)


def _floor_paint(x: Floats, z: Floats) -> Mask:
    """Yellow floor paint: aisle edges, cross aisle, hatched keep-clear box at the exit."""
    aisle = (z < _RACK_END_Z) & _near(np.abs(x), 1.6, 0.05)
    cross = _near(z, _RACK_END_Z + 0.15, 0.05) & (np.abs(x) > 1.55)
    bx, bz = _ZONE_HALF + 0.2, _WALL_Z - _ZONE_DEPTH - 0.2
    inside = (np.abs(x) < bx) & (z > bz)
    border = inside & ((np.abs(x) > bx - 0.1) | (z < bz + 0.1))
    hatch = inside & (np.mod(x + z, 0.6) < 0.09)
    return np.asarray(aisle | cross | border | hatch, dtype=np.bool_)


def _floor(hit: _Hits, rng: np.random.Generator) -> Floats:
    x, z = hit.x, hit.z
    stains = _value_noise(rng, 6, x / 14, z / 14)
    grit = _value_noise(rng, 40, x / 7, z / 7)
    tone = 1.0 + 0.08 * stains + 0.04 * grit
    joints = (np.mod(x + 0.5, 4.0) < 0.025) | (np.mod(z, 4.0) < 0.025)
    under_racks = np.clip((np.abs(x) - 1.2) / 0.6, 0, 1) * (z < _RACK_END_Z)
    tone = (tone * np.where(joints, 0.8, 1.0) * (1 - 0.25 * under_racks)).astype(np.float32)
    return np.where(
        _floor_paint(x, z)[..., None], _rgb(tone, (20, 182, 222)), _rgb(tone, (132, 136, 134))
    )


def _ceiling(hit: _Hits, rng: np.random.Generator) -> Floats:
    return _rgb(np.where(np.mod(hit.z, 3.0) < 0.25, 0.7, 1.0).astype(np.float32), (92, 90, 86))


def _far_wall(hit: _Hits, rng: np.random.Generator) -> Floats:
    """Painted block wall with a darker dado and a skirting."""
    x, y = hit.x, hit.y
    tone = 1.0 + 0.04 * _value_noise(rng, 8, x / 12, y / 12)
    course = np.mod(y, 0.4) < 0.2
    mortar = (np.mod(y, 0.2) < 0.012) | (np.mod(x + 0.2 * course, 0.4) < 0.012)
    tone = (tone * np.where(mortar, 0.9, 1.0)).astype(np.float32)
    col = np.where((y < 0.9)[..., None], _rgb(tone, (150, 158, 150)), _rgb(tone, (186, 190, 184)))
    return np.where((y < 0.12)[..., None], np.float32(62), col).astype(np.float32)


def _side_wall(hit: _Hits, rng: np.random.Generator) -> Floats:
    """Ribbed metal cladding."""
    ribs = 0.92 + 0.08 * np.cos(hit.z * (2 * math.pi / 0.3))
    tone = (ribs * (0.9 + 0.1 * np.clip(hit.y / 5, 0, 1))).astype(np.float32)
    return _rgb(tone, (160, 158, 150))


_SURFACES: tuple[Callable[[_Hits, np.random.Generator], Floats], ...] = (
    _floor,
    _ceiling,
    _far_wall,
    _side_wall,
)


# Light states in switching order: (name, ambient light, lamp strength); "on" is how the
# background is drawn, the others scale it (daylight and emergency light remain when "off").
_LIGHTS: tuple[tuple[str, float, float], ...] = (
    ("on", 0.62, 0.55),
    ("dim", 0.45, 0.22),
    ("off", 0.2, 0.0),
)
LIGHT_STATES: tuple[str, ...] = tuple(name for name, _, _ in _LIGHTS)
"""The lights' states in switching order (``SceneSpec.light_switch_period_s``)."""


def _lighting(hit: _Hits, ambient: float = _LIGHTS[0][1], lamps: float = _LIGHTS[0][2]) -> Floats:
    light = np.full(hit.x.shape, ambient, dtype=np.float32)
    for lx, ly, lz in _LAMPS:
        d2 = (hit.x - lx) ** 2 + (hit.y - ly) ** 2 + (hit.z - lz) ** 2
        light += lamps * np.exp(-d2 / 18.0)
    return light


def lights_at(t: float, spec: SceneSpec) -> str:
    """The state of the lights (one of ``LIGHT_STATES``) at ``t`` seconds."""
    if spec.light_switch_period_s is None:
        return LIGHT_STATES[0]
    return LIGHT_STATES[int(t // spec.light_switch_period_s) % len(LIGHT_STATES)]


def _light_gains(spec: SceneSpec) -> dict[str, Floats]:
    """Per state, the per-pixel factor (H x W x 1) from the lights on to that state."""
    if spec.light_switch_period_s is None:
        return {}
    hit = _ray_cast(spec.width, spec.height)
    full = _lighting(hit)
    return {
        name: np.asarray((_lighting(hit, ambient, lamps) / full)[..., None], dtype=np.float32)
        for name, ambient, lamps in _LIGHTS[1:]
    }


def _shell(w: int, h: int, rng: np.random.Generator) -> _Canvas:
    """Floor, walls and ceiling of the hall, lit by the lamps."""
    hit = _ray_cast(w, h)
    col = np.zeros((h, w, 3), dtype=np.float32)
    for sid, surface in enumerate(_SURFACES):
        m = hit.surface == sid
        col[m] = surface(hit, rng)[m]
    col *= _lighting(hit)[..., None]
    return _Canvas(np.clip(col, 0, 255).astype(np.uint8), hit.depth, frame=(w, h))


# --------------------------------------------------------------------------- fixtures


def _wall_rect(x0: float, x1: float, y0: float, y1: float, dz: float = 0.01) -> Floats:
    return _plane_z(_WALL_Z - dz, x0, x1, y0, y1)


def _draw_door(canvas: _Canvas) -> None:
    """Double steel door with vision panels, push bars and green signs."""
    canvas.poly(_wall_rect(-_DOOR_HALF - 0.1, _DOOR_HALF + 0.1, 0.0, _DOOR_H + 0.1), (70, 72, 74))
    for x0, x1 in ((-_DOOR_HALF, -0.01), (0.01, _DOOR_HALF)):
        canvas.poly(_wall_rect(x0, x1, 0.0, _DOOR_H, 0.02), (120, 138, 118))
        canvas.poly(_wall_rect(x0 + 0.18, x1 - 0.18, 1.35, 1.95, 0.03), (70, 62, 55))
        canvas.poly(_wall_rect(x0 + 0.06, x1 - 0.06, 0.95, 1.03, 0.05), (200, 202, 205))
        canvas.poly(_wall_rect(x0 + 0.2, x1 - 0.2, 1.12, 1.26, 0.03), (60, 150, 20))


def _draw_exit_sign(canvas: _Canvas) -> Floats:
    """The lit EXIT box above the door; returns its glow mask."""
    canvas.poly(_wall_rect(-0.47, 0.47, 2.36, 2.76, 0.04), (40, 40, 40))
    face = _wall_rect(-0.45, 0.45, 2.38, 2.74, 0.08)
    canvas.poly(face, _SIGN_GREEN)
    px, _ = canvas.pixels(face)
    x0, y0 = (px.min(axis=0) // 16).tolist()
    x1, y1 = (px.max(axis=0) // 16).tolist()
    scale, thick = (y1 - y0) / 40.0, max(1, round((y1 - y0) / 20.0))
    (tw, th), _ = cv2.getTextSize("EXIT", cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    org = (x0 + int((x1 - x0) * 0.36) - tw // 2, (y0 + y1 + th) // 2)
    cv2.putText(canvas.img, "EXIT", org, cv2.FONT_HERSHEY_DUPLEX, scale, _WHITE, thick, cv2.LINE_AA)
    _draw_runner(canvas.img, (x0 + (x1 - x0) * 0.82, (y0 + y1) / 2), (y1 - y0) * 0.35)
    glow = np.zeros(canvas.img.shape[:2], dtype=np.float32)
    cv2.rectangle(glow, (x0, y0), (x1, y1), 1.0, -1)
    return glow


_RUNNER: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((0.1, -0.55), (-0.1, 0.15)),  # body
    ((-0.1, 0.15), (0.35, 0.9)),  # legs
    ((-0.1, 0.15), (-0.55, 0.85)),
    ((0.05, -0.35), (0.55, -0.1)),  # arms
    ((0.05, -0.35), (-0.45, -0.2)),
)


def _draw_runner(img: Image, center: tuple[float, float], s: float) -> None:
    """The running-man pictogram, ``s`` pixels from centre to feet."""
    cx, cy = center
    t = max(1, round(s / 3.5))
    cv2.circle(
        img,
        (int(cx + 0.15 * s), int(cy - 0.8 * s)),
        max(1, round(s * 0.18)),
        _WHITE,
        -1,
        cv2.LINE_AA,
    )
    for (ax, ay), (bx, by) in _RUNNER:
        a, b = (int(cx + ax * s), int(cy + ay * s)), (int(cx + bx * s), int(cy + by * s))
        cv2.line(img, a, b, _WHITE, t, cv2.LINE_AA)


def _draw_wall_fixtures(canvas: _Canvas) -> None:
    """Extinguisher, fire alarm call point, pipes and a cable tray."""
    canvas.poly(_wall_rect(1.55, 1.75, 0.35, 0.95, 0.12), (30, 30, 190))
    canvas.poly(_wall_rect(1.5, 1.8, 1.15, 1.4, 0.01), (40, 40, 200))
    canvas.poly(_wall_rect(-1.35, -1.2, 1.35, 1.5, 0.03), (35, 35, 200))
    canvas.poly(_wall_rect(-1.32, -1.23, 1.38, 1.47, 0.04), (230, 230, 230))
    for x in (-4.5, -3.0, 3.0, 4.5):
        canvas.poly(_wall_rect(x, x + 0.1, 0.0, _CEIL_Y, 0.08), (120, 124, 128))
    canvas.poly(_wall_rect(-_SIDE_X, _SIDE_X, 3.95, 4.15, 0.3), (105, 108, 112))
    canvas.poly(_wall_rect(-_SIDE_X, _SIDE_X, 3.9, 3.95, 0.3), (60, 62, 64))


def _ring(cx: float, cy: float, cz: float, radius: float) -> list[Vec3]:
    angles = np.linspace(0, 2 * math.pi, 24).tolist()
    return [(cx + radius * math.cos(a), cy, cz + radius * math.sin(a)) for a in angles]


def _hull(canvas: _Canvas, points: list[Vec3], color: Color) -> Pixels:
    px, depth = canvas.pixels(_pts(points))
    hull = np.asarray(cv2.convexHull(px), dtype=np.int32)
    canvas.fill(hull, color, depth)
    return hull


def _draw_lamps(canvas: _Canvas) -> Floats:
    """Hanging LED high-bay lamps with a lit diffuser; returns their glow mask."""
    glow = np.zeros(canvas.img.shape[:2], dtype=np.float32)
    for x, y, z in _LAMPS:
        canvas.poly(_plane_z(z, x - 0.012, x + 0.012, y, _CEIL_Y), (45, 45, 45))
        _hull(canvas, _ring(x, y + 0.25, z, 0.12) + _ring(x, y + 0.1, z, 0.3), (96, 98, 102))
        lit = _hull(canvas, _ring(x, y + 0.1, z, 0.3) + _ring(x, y - 0.05, z, 0.3), (232, 246, 255))
        _hull(canvas, _ring(x, y + 0.1, z, 0.22), (150, 152, 156))
        cv2.fillPoly(glow, [lit], 1.0, cv2.LINE_AA, 4)
    return glow


# --------------------------------------------------------------------------- racks


def _span(side: int, a: float, b: float) -> tuple[float, float]:
    """The X interval ``a..b`` metres from the aisle centre, on ``side`` (-1 left, 1 right)."""
    return (a, b) if side > 0 else (-b, -a)


def _segments(z0: float, z1: float, step: float) -> list[tuple[float, float]]:
    """``z0..z1`` cut into pieces of at most ``step`` (long polygons get a depth each)."""
    n = max(1, math.ceil((z1 - z0) / step))
    return list(itertools.pairwise(np.linspace(z0, z1, n + 1).tolist()))


def _uprights(side: int, x_from_aisle: float, z0: float, z1: float) -> list[_Box]:
    """Rack uprights in one frame line, far first."""
    x0, x1 = _span(side, x_from_aisle, x_from_aisle + 0.09)
    zs = np.linspace(z0, z1 - 0.09, max(1, round((z1 - z0) / 2.7)) + 1).tolist()
    return [_Box(x0, x1, 0.0, _RACK_TOP, z, z + 0.09, _UPRIGHT) for z in reversed(zs)]


def _draw_rack_back(canvas: _Canvas, side: int, z0: float, z1: float) -> None:
    """The mesh panel at the back of a rack run."""
    x = side * _RACK_OUT
    for a, b in _segments(z0, z1, 0.9):
        canvas.poly(_plane_x(x, 0.0, _RACK_TOP, a, b), (74, 76, 80))
    for y in np.arange(0.3, _RACK_TOP, 0.3).tolist():
        canvas.outline(_pts([(x, y, z0), (x, y, z1)]), (56, 58, 60))
    for z in np.arange(z0, z1, 0.3).tolist():
        canvas.outline(_pts([(x, 0.0, z), (x, _RACK_TOP, z)]), (56, 58, 60))


def _draw_rack_levels(
    canvas: _Canvas, side: int, z0: float, z1: float, rng: np.random.Generator
) -> None:
    """Decks and pallet loads, level by level from the floor up, far to near."""
    xa, xb = _span(side, _RACK_IN, _RACK_OUT)
    la, lb = _span(side, _RACK_IN + 0.08, _RACK_OUT - 0.08)
    for level in _RACK_LEVELS:
        for a, b in _segments(z0, z1, 0.9) if level > 0 else []:
            canvas.poly(_plane_y(level, xa, xb, a, b), (118, 120, 122))
        for a, b in reversed(_segments(z0 + 0.15, z1 - 0.15, 1.3)):
            if rng.uniform() >= 0.12:  # some slots are empty
                loads = _stack(la, lb, a + 0.05, b - 0.05, rng)
                _draw_stack(canvas, [box.moved(dy=level) for box in loads])


def _draw_beams(canvas: _Canvas, side: int, z0: float, z1: float) -> None:
    x = side * (_RACK_IN - 0.02)
    for level in (*_RACK_LEVELS[1:], _RACK_TOP - 0.1):
        for a, b in _segments(z0, z1, 0.9):
            canvas.poly(_plane_x(x, level - 0.13, level, a, b), _BEAM)
            top = _plane_y(level, min(x, x + side * 0.05), max(x, x + side * 0.05), a, b)
            canvas.poly(top, _shade(_BEAM, 1.15))


def _draw_rack_run(
    canvas: _Canvas, side: int, z0: float, z1: float, rng: np.random.Generator
) -> None:
    """A pallet rack from ``z0`` to ``z1`` on one side of the aisle, back to front."""
    _draw_rack_back(canvas, side, z0, z1)
    for upright in _uprights(side, _RACK_OUT - 0.09, z0, z1):
        _draw_box(canvas, upright)
    _draw_rack_levels(canvas, side, z0, z1, rng)
    for upright in _uprights(side, _RACK_IN, z0, z1):
        _draw_box(canvas, upright)
    _draw_beams(canvas, side, z0, z1)


# --------------------------------------------------------------------------- background


def _post(img: Image) -> Image:
    """Lens vignette and a touch of softness, like a cheap CCTV lens."""
    h, w = img.shape[:2]
    yy = ((np.arange(h, dtype=np.float32) - h / 2) / (h / 2)) ** 2
    xx = ((np.arange(w, dtype=np.float32) - w / 2) / (w / 2)) ** 2
    vignette = 1.0 - 0.22 * (yy[:, None] + xx[None, :])
    soft = np.asarray(cv2.GaussianBlur(img, (0, 0), 0.7), dtype=np.float32)
    return np.asarray(np.clip(soft * vignette[..., None], 0, 255), dtype=np.uint8)


def _add_glow(img: Image, mask: Floats, color: Color, sigma: float) -> Image:
    blur = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), dtype=np.float32)
    add = blur[..., None] * (np.asarray(color, dtype=np.float32) * 0.9)
    return np.clip(img.astype(np.float32) + add, 0, 255).astype(np.uint8)


def _background(spec: SceneSpec, rng: np.random.Generator) -> _Canvas:
    """The static scene at frame size: colour and camera depth per pixel."""
    w2, h2 = spec.width * 2, spec.height * 2
    canvas = _shell(w2, h2, rng)
    _draw_door(canvas)
    sign_glow = _draw_exit_sign(canvas)
    _draw_wall_fixtures(canvas)
    for side, runs in ((-1, _LEFT_RUNS), (1, _RIGHT_RUNS)):
        for z0, z1 in runs:
            _draw_rack_run(canvas, side, z0, z1, rng)
    lamp_glow = _draw_lamps(canvas)
    img = _add_glow(canvas.img, sign_glow, (40, 200, 30), w2 / 200)
    img = _add_glow(img, lamp_glow, (200, 225, 235), w2 / 90)
    size = (spec.width, spec.height)
    small = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    depth = cv2.resize(canvas.depth, size, interpolation=cv2.INTER_NEAREST)
    return _Canvas(_post(small), np.asarray(depth, dtype=np.float32), frame=size)


# --------------------------------------------------------------------------- moving things


def _mixed_cardboard(rng: np.random.Generator) -> Iterator[Color]:
    while True:
        yield _shade(_CARDBOARD[int(rng.integers(3))], float(rng.uniform(0.9, 1.1)))


def _obstacle_layout(rng: np.random.Generator) -> list[_Box]:
    """The pallet load that blocks the exit, centred on X = 0: 3 x 2 boxes, 3 high."""
    x0, x1 = -0.8, 0.8
    xs = np.linspace(x0, x1, 4, dtype=np.float32)
    zs = np.linspace(_LOAD_Z0, _LOAD_Z1, 3, dtype=np.float32)
    colors = _mixed_cardboard(rng)
    boxes, y = _pallet(x0, x1, _LOAD_Z0, _LOAD_Z1), 0.14
    for h in (0.42, 0.38, 0.34):
        boxes += _grid(xs, zs, y, h, colors)
        y += h + 0.005
    return [b for b in boxes if not (b.y0 > 0.9 and b.x0 > 0.2 and b.z0 < zs[1])]  # gap on top


def _obstacle_x(t: float, spec: SceneSpec) -> float | None:
    """Centre X of the pallet load at ``t``; None before it shows up (or without one)."""
    if not spec.obstacle or t < spec.obstacle_at_s:
        return None
    p = min(1.0, (t - spec.obstacle_at_s) / OBSTACLE_SLIDE_S)
    ease = 1 - (1 - p) ** 2  # pushed in fast, then braking
    return _LOAD_X_START + (_LOAD_X_END - _LOAD_X_START) * ease


@dataclass(frozen=True)
class _Walker:
    x: float
    z: float
    phase: float  # gait phase, radians
    sideways: float  # 1 walking across the view, 0 walking along it


def _along(path: Sequence[tuple[float, float]], dist: float) -> tuple[float, float, float] | None:
    """Point ``dist`` metres along ``path`` and how sideways that leg runs; None past the end."""
    for (ax, az), (bx, bz) in itertools.pairwise(path):
        leg = math.hypot(bx - ax, bz - az)
        if dist <= leg:
            f = dist / leg
            return ax + (bx - ax) * f, az + (bz - az) * f, abs(bx - ax) / leg
        dist -= leg
    return None


def _walker_at(t: float) -> _Walker | None:
    """The worker: every 15 s out of the side passage and away, or back in (alternately)."""
    if t < _FIRST_WALK_S:
        return None
    k, since = divmod(t - _FIRST_WALK_S, _WALK_EVERY_S)
    path = _WALK if int(k) % 2 == 0 else _WALK[::-1]
    dist = since * _WALK_SPEED
    at = _along(path, dist)
    return None if at is None else _Walker(at[0], at[1], dist / 0.75 * math.pi, at[2])


_Part = tuple[Pixels, Color]


class _Figure:
    """Body-relative drawing: height fraction ``s`` up from the feet, ``dx`` in body heights."""

    def __init__(self, foot: Floats, head: Floats) -> None:
        self.foot, self.head = foot, head
        self.hp = float(foot[1] - head[1])

    def at(self, s: float, dx: float) -> tuple[float, float]:
        p = self.foot + (self.head - self.foot) * s
        return float(p[0]) + dx * self.hp, float(p[1])

    def limb(self, a: tuple[float, float], b: tuple[float, float], half: float) -> Pixels:
        d = half * self.hp
        pts = [(a[0] - d, a[1]), (a[0] + d, a[1]), (b[0] + d, b[1]), (b[0] - d, b[1])]
        return (np.asarray(pts, dtype=np.float32) * 16).astype(np.int32)

    def blob(
        self, c: tuple[float, float], rx: float, ry: float, arc: tuple[int, int] = (0, 360)
    ) -> Pixels:
        axes = (max(1, int(rx * self.hp * 16)), max(1, int(ry * self.hp * 16)))
        pts = cv2.ellipse2Poly((int(c[0] * 16), int(c[1] * 16)), axes, 0, arc[0], arc[1], 10)
        return np.asarray(pts, dtype=np.int32)


def _person(fig: _Figure, w: _Walker) -> list[_Part]:
    """A worker in a hi-vis vest and a white hard hat, back to front."""
    swing = math.sin(w.phase)
    sx, sy = 0.09 * swing * w.sideways, 0.015 * swing * (1 - w.sideways)
    parts: list[_Part] = []
    for sign in (-1, 1):
        foot = fig.at(sign * sy, sign * (0.05 + sx))
        parts.append((fig.limb(fig.at(0.5, 0.05 * sign), foot, 0.038), (62, 48, 40)))
        parts.append((fig.blob((foot[0], foot[1] - 0.01 * fig.hp), 0.045, 0.02), (30, 30, 32)))
    for sign in (-1, 1):
        hand = fig.at(0.51, sign * (0.16 - 0.8 * sx))
        parts.append((fig.limb(fig.at(0.79, 0.14 * sign), hand, 0.03), (110, 70, 45)))
        parts.append((fig.blob(hand, 0.025, 0.025), _SKIN))
    parts.append((fig.limb(fig.at(0.47, 0.0), fig.at(0.8, 0.0), 0.13), _VEST))
    for s in (0.57, 0.67):
        parts.append((fig.limb(fig.at(s, 0.0), fig.at(s + 0.025, 0.0), 0.13), (205, 210, 212)))
    parts.append((fig.blob(fig.at(0.885, 0.0), 0.055, 0.062), _SKIN))
    parts.append((fig.blob(fig.at(0.915, 0.0), 0.07, 0.06, (180, 360)), (235, 238, 240)))
    parts.append((fig.limb(fig.at(0.91, 0.0), fig.at(0.92, 0.0), 0.085), (215, 218, 220)))
    return parts


# --------------------------------------------------------------------------- compositing


def _window(bg: _Canvas, px: Pixels, pad: int = 4) -> tuple[int, int, int, int] | None:
    """Pixel bounding box (x0, y0, x1, y1) of ``px``, clipped to the frame."""
    w, h = bg.frame
    x0, y0 = (px.min(axis=0) // 16 - pad).tolist()
    x1, y1 = (px.max(axis=0) // 16 + pad).tolist()
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _layer(bg: _Canvas, box: tuple[int, int, int, int]) -> _Canvas:
    x0, y0, x1, y1 = box
    return _Canvas(
        img=bg.img[y0:y1, x0:x1].copy(),
        depth=np.full((y1 - y0, x1 - x0), np.inf, dtype=np.float32),
        frame=bg.frame,
        origin=(x0, y0),
        alpha=np.zeros((y1 - y0, x1 - x0), dtype=np.uint8),
    )


def _merge(bg: _Canvas, layer: _Canvas) -> None:
    """Blend ``layer`` into ``bg`` where it is nearer than what ``bg`` shows."""
    assert layer.alpha is not None
    (x0, y0), (h, w) = layer.origin, layer.alpha.shape
    img, depth = bg.img[y0 : y0 + h, x0 : x0 + w], bg.depth[y0 : y0 + h, x0 : x0 + w]
    front = layer.depth < depth
    a = (layer.alpha.astype(np.float32) / 255.0 * front)[..., None]
    img[:] = (img * (1 - a) + layer.img * a).astype(np.uint8)
    solid = front & (layer.alpha > 127)
    depth[solid] = layer.depth[solid]


def _shadow(bg: _Canvas, footprint: Floats, strength: float) -> None:
    """Darken the visible floor under an object (a soft blob from its world footprint)."""
    px, depth = bg.pixels(footprint)
    box = _window(bg, px, pad=12)
    if box is None:
        return
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    cv2.fillPoly(mask, [px - np.array([x0 * 16, y0 * 16], dtype=np.int32)], 1.0, cv2.LINE_AA, 4)
    blur = np.asarray(cv2.GaussianBlur(mask, (0, 0), 3.0), dtype=np.float32)
    blur *= bg.depth[y0:y1, x0:x1] > depth - 0.4
    roi = bg.img[y0:y1, x0:x1]
    roi[:] = (roi * (1 - strength * blur[..., None])).astype(np.uint8)


def _draw_obstacle(bg: _Canvas, load: Sequence[_Box], x: float) -> None:
    boxes = [b.moved(dx=x) for b in load]
    _shadow(bg, _plane_y(0.0, x - 0.9, x + 0.9, _LOAD_Z0 - 0.1, _LOAD_Z1 + 0.1), 0.45)
    corners = [(b.x0, b.y0, b.z0) for b in boxes] + [(b.x1, b.y1, b.z1) for b in boxes]
    corners += [(b.x1, b.y1, b.z0) for b in boxes]
    box = _window(bg, bg.pixels(_pts(corners))[0])
    if box is not None:
        layer = _layer(bg, box)
        _draw_stack(layer, boxes)
        _merge(bg, layer)


def _draw_walker(bg: _Canvas, w: _Walker) -> None:
    uv, depth = _project(_pts([(w.x, 0.0, w.z), (w.x, _PERSON_H, w.z)]))
    px = uv * np.array(bg.frame, dtype=np.float32)
    angles = np.linspace(0, 2 * math.pi, 16).tolist()
    _shadow(
        bg, _pts([(w.x + 0.3 * math.cos(a), 0.0, w.z + 0.22 * math.sin(a)) for a in angles]), 0.35
    )
    parts = _person(_Figure(px[0], px[1]), w)
    box = _window(bg, np.concatenate([p for p, _ in parts]))
    if box is None:
        return
    layer = _layer(bg, box)
    offset = np.array([box[0] * 16, box[1] * 16], dtype=np.int32)
    for poly, color in parts:
        layer.fill(poly - offset, color, float(depth.mean()))
    _merge(bg, layer)


# --------------------------------------------------------------------------- frames


def _copy(c: _Canvas) -> _Canvas:
    return _Canvas(c.img.copy(), c.depth.copy(), frame=c.frame)


def _noise_frames(
    spec: SceneSpec, rng: np.random.Generator, count: int = 6
) -> list[tuple[Image, Image]]:
    """Sensor noise (sigma 2.5) as (add, subtract) pairs for saturating uint8 maths."""
    out = []
    for _ in range(count):
        n = rng.normal(0.0, 2.5, (spec.height, spec.width, 3)).round()
        out.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
    return out


def _stamp(img: Image, t: float) -> None:
    """CCTV overlay, top left: camera name and wall-clock time on a dark strip."""
    text = f"CAM-01 AISLE 3  {_CLOCK_START + timedelta(seconds=int(t)):%Y-%m-%d %H:%M:%S}"
    scale = img.shape[0] / 720 * 0.7
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, th // 3)
    roi = img[2 * pad : th + base + 4 * pad, 2 * pad : tw + 4 * pad]
    roi[:] = roi // 3
    org = (3 * pad, 3 * pad + th)
    cv2.putText(
        img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), thick, cv2.LINE_AA
    )


class _Stage:
    """Composes the frames of one spec: background once, moving things per frame."""

    def __init__(self, spec: SceneSpec) -> None:
        rng = np.random.default_rng(spec.seed)
        self.spec = spec
        self.bg = _background(spec, rng)
        self.load = _obstacle_layout(rng)
        self.noise = _noise_frames(spec, rng)
        self.settled: _Canvas | None = None  # background with the load in place
        self.gains = _light_gains(spec)

    def _base(self, t: float) -> _Canvas:
        x = _obstacle_x(t, self.spec)
        if x is None:
            return _copy(self.bg)
        if x != _LOAD_X_END:
            canvas = _copy(self.bg)
            _draw_obstacle(canvas, self.load, x)
            return canvas
        if self.settled is None:
            self.settled = _copy(self.bg)
            _draw_obstacle(self.settled, self.load, x)
        return _copy(self.settled)

    def clean(self, t: float) -> Image:
        """The picture at ``t`` without sensor noise and overlay."""
        canvas = self._base(t)
        walker = _walker_at(t)
        if walker is not None:
            _draw_walker(canvas, walker)
        gain = self.gains.get(lights_at(t, self.spec))
        if gain is None:
            return canvas.img
        return np.asarray(np.clip(canvas.img * gain, 0, 255), dtype=np.uint8)

    def frame(self, index: int) -> Image:
        t = index / self.spec.fps
        add, sub = self.noise[index % len(self.noise)]
        img = np.asarray(cv2.subtract(cv2.add(self.clean(t), add), sub), dtype=np.uint8)
        _stamp(img, t)
        return img


def _check(spec: SceneSpec) -> None:
    if spec.width % 2 or spec.height % 2 or spec.width < 64 or spec.height < 36:
        raise ValueError(f"frame size must be even and at least 64x36: {spec.width}x{spec.height}")
    if spec.fps <= 0 or spec.duration_s <= 0:
        raise ValueError(f"fps and duration_s must be positive: {spec.fps}, {spec.duration_s}")
    if spec.light_switch_period_s is not None and spec.light_switch_period_s <= 0:
        raise ValueError(f"light_switch_period_s must be positive: {spec.light_switch_period_s}")


def frame_count(spec: SceneSpec) -> int:
    return round(spec.duration_s * spec.fps)


def iter_frames(spec: SceneSpec = SceneSpec()) -> Iterator[Image]:
    """The scene's frames as BGR uint8 arrays (what ``render_scene`` encodes)."""
    _check(spec)
    stage = _Stage(spec)
    for i in range(frame_count(spec)):
        yield stage.frame(i)


# --------------------------------------------------------------------------- files


def render_scene(
    path: Path, spec: SceneSpec = SceneSpec(), progress: Callable[[int, int], None] | None = None
) -> Path:
    """Render the scene to an H.264 MP4 at ``path`` (atomically); ``progress(done, total)``."""
    _check(spec)
    total = frame_count(spec)
    return write_camera_video(
        path,
        iter_frames(spec),
        spec.fps,
        (spec.width, spec.height),
        crf=spec.crf,
        progress=None if progress is None else lambda done: progress(done, total),
    )


def _recipe(spec: SceneSpec) -> dict[str, Any]:
    return {"scene_version": SCENE_VERSION, "encoding": ENCODING, "spec": asdict(spec)}


def ensure_scene(
    path: Path,
    spec: SceneSpec = SceneSpec(),
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render ``path`` unless it exists from the same spec (kept in ``path`` + ``.json``)."""
    meta = path.with_suffix(".json")
    try:
        if path.is_file() and json.loads(meta.read_text()) == _recipe(spec):
            return path
    except (OSError, ValueError):
        pass
    meta.unlink(missing_ok=True)
    render_scene(path, spec, progress)
    meta.write_text(json.dumps(_recipe(spec), indent=2) + "\n")
    return path
