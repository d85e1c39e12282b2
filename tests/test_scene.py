"""The generated demo scene: a real H.264 file whose exit zone is clear, then blocked."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from sitewatch.demo.scene import (
    EXIT_ZONE,
    LIGHT_STATES,
    SceneSpec,
    ensure_scene,
    exit_zone_pixels,
    frame_count,
    iter_frames,
    lights_at,
    render_scene,
)

SHORT = SceneSpec(width=640, height=360, fps=10, duration_s=6.0, obstacle_at_s=2.0)
Frame = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_scene(tmp_path_factory.mktemp("scene") / "aisle.mp4", SHORT)


@pytest.fixture(scope="module")
def decoded(clip: Path) -> list[Frame]:
    with av.open(str(clip)) as container:
        return [
            np.asarray(f.to_ndarray(format="bgr24"), np.uint8) for f in container.decode(video=0)
        ]


def zone_mask(spec: SceneSpec) -> npt.NDArray[np.bool_]:
    mask = np.zeros((spec.height, spec.width), dtype=np.uint8)
    cv2.fillPoly(mask, [exit_zone_pixels(spec)], 1)
    return mask.astype(bool)


def abs_diff(a: Frame, b: Frame) -> npt.NDArray[np.int16]:
    """Per-pixel largest channel difference."""
    return np.asarray(np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1), np.int16)


def test_clip_is_h264_mp4_like_a_camera_stream(clip: Path) -> None:
    """A keyframe every second and no B-frames (frames stored in display order): our RTSP
    server stamps packets in decode order, and clips of B-frames played out of order."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (SHORT.width, SHORT.height)
        assert stream.codec_context.pix_fmt == "yuv420p"
        packets = [p for p in container.demux(stream) if p.size > 0]
    assert packets[0].is_keyframe
    assert abs(len(packets) - SHORT.duration_s * SHORT.fps) <= 1
    keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert keyframes == list(range(0, len(packets), SHORT.fps))
    shown = [int(p.pts or 0) for p in packets]
    assert shown == [p.dts for p in packets] == sorted(shown)


def test_decoded_frames_have_the_right_count_and_size(decoded: list[Frame]) -> None:
    assert len(decoded) == frame_count(SHORT) == 60
    assert {f.shape for f in decoded} == {(SHORT.height, SHORT.width, 3)}


def test_exit_zone_is_clear_early_and_blocked_at_the_end(decoded: list[Frame]) -> None:
    zone = zone_mask(SHORT)
    early, later, last = decoded[5], decoded[15], decoded[-1]  # t = 0.5 s, 1.5 s, 5.9 s
    calm, blocked = abs_diff(early, later)[zone], abs_diff(early, last)[zone]
    assert calm.mean() < 10.0  # sensor noise and compression only
    assert (calm > 30).mean() < 0.01
    assert blocked.mean() > 30.0
    assert (blocked > 30).mean() >= 0.5  # the pallet covers at least half of the zone


def test_zone_is_inside_the_frame_and_reasonably_large() -> None:
    pts = exit_zone_pixels(SceneSpec())
    assert pts.dtype == np.int32 and pts.shape == (len(EXIT_ZONE), 2)
    assert (pts >= 0).all() and (pts[:, 0] < 1280).all() and (pts[:, 1] < 720).all()
    assert zone_mask(SceneSpec()).mean() > 0.015  # > 1.5 % of the picture


def test_worker_walks_by_but_never_into_the_exit_zone() -> None:
    spec = SceneSpec(width=320, height=180, fps=5, duration_s=7.0, obstacle_at_s=7.0)
    frames = list(iter_frames(spec))
    zone, first = zone_mask(spec), frames[0]
    moved = [(abs_diff(first, f)[20:] > 40).mean() for f in frames]  # below the clock
    in_zone = [(abs_diff(first, f)[zone] > 40).mean() for f in frames]
    assert max(moved) > 0.003  # somebody did walk by (about 1 % of the picture)
    assert max(in_zone) == 0.0


def test_without_the_obstacle_the_exit_stays_clear() -> None:
    spec = SceneSpec(width=320, height=180, fps=2, duration_s=6.0, obstacle_at_s=1.0)
    zone = zone_mask(spec)
    clear = list(iter_frames(replace(spec, obstacle=False)))
    blocked = list(iter_frames(spec))
    assert abs_diff(clear[0], clear[-1])[zone].mean() < 10.0
    assert abs_diff(blocked[0], blocked[-1])[zone].mean() > 30.0


def test_lights_switch_on_dim_off_and_on_again() -> None:
    spec = SceneSpec(
        width=320, height=180, fps=2, duration_s=6.5, obstacle=False, light_switch_period_s=2.0
    )
    assert LIGHT_STATES == ("on", "dim", "off")
    states = [lights_at(t, spec) for t in (0.0, 1.9, 2.0, 4.0, 6.0)]
    assert states == ["on", "on", "dim", "off", "on"]
    assert lights_at(1000.0, SceneSpec()) == "on"  # by default the lights stay on

    frames = list(iter_frames(spec))  # t = 0, 0.5, ... 6.0
    steady = list(iter_frames(replace(spec, light_switch_period_s=None)))
    assert np.array_equal(frames[0], steady[0])  # "on" is the usual picture
    brightness = [float(f[20:].mean()) for f in frames]  # below the clock
    on, dim, off, again = brightness[0], brightness[4], brightness[8], brightness[12]
    assert off < 0.5 * on
    assert off < dim < 0.85 * on
    assert again == pytest.approx(on, abs=3.0)


def test_same_seed_gives_the_same_frames_and_another_seed_does_not() -> None:
    spec = SceneSpec(width=320, height=180, fps=5, duration_s=2.0)
    a = next(itertools.islice(iter_frames(spec), 7, None))
    b = next(itertools.islice(iter_frames(spec), 7, None))
    c = next(itertools.islice(iter_frames(replace(spec, seed=8)), 7, None))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        render_scene(tmp_path / "odd.mp4", SceneSpec(width=321, height=180))
    with pytest.raises(ValueError, match="light_switch_period_s"):
        render_scene(tmp_path / "dark.mp4", SceneSpec(light_switch_period_s=0.0))
    assert not list(tmp_path.iterdir())


def test_ensure_scene_renders_only_when_missing_or_changed(tmp_path: Path) -> None:
    spec = SceneSpec(width=160, height=90, fps=5, duration_s=1.0, obstacle_at_s=0.5)
    path = tmp_path / "aisle.mp4"
    ensure_scene(path, spec)
    first = path.stat().st_mtime_ns, path.read_bytes()
    assert json.loads(path.with_suffix(".json").read_text())["spec"]["seed"] == spec.seed

    ensure_scene(path, spec)
    assert path.stat().st_mtime_ns == first[0]

    ensure_scene(path, replace(spec, seed=8))
    assert path.stat().st_mtime_ns != first[0]
    assert path.read_bytes() != first[1]
    assert json.loads(path.with_suffix(".json").read_text())["spec"]["seed"] == 8

    path.unlink()
    ensure_scene(path, replace(spec, seed=8))
    assert path.is_file()
