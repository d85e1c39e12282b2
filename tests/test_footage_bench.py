"""``bench.footage``: its pure parts, and one short run on two real clips of ../shared/footage
(skipped when the footage is absent; it is never copied into the repository)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import yaml

from bench.footage import (
    DEFAULT_CONFIG,
    DEFAULT_FOOTAGE,
    EXPECTATIONS,
    MIN_SECONDS,
    Clip,
    ClipResult,
    FootageError,
    FootageReport,
    FrameTally,
    decode_frames,
    fitted_size,
    flame_boxes,
    loop_legs,
    main,
    open_seconds,
    per_hour,
    pingpong_order,
    probe,
    run_benchmark,
    select_clips,
    totals,
)
from detect.detections import Detections
from sitewatch.config.rules import FlameRule
from sitewatch.replay import Incident

FIRE_CLIP = "fire_cctv_indoor_office_flash.mp4"
NEGATIVE_CLIP = "neg_classroom_office_intel.gif"
TOTAL_KEYS = {
    "false_flame_incidents",
    "false_flame_per_hour",
    "flame_clips",
    "flame_alerted",
    "bare_head_clips",
    "hardhat_alerted",
    "false_hardhat",
}
SMALL = (212, 120)  # decoded size for frame comparisons (keeps memory low)


# --------------------------------------------------------------------------- pure parts


def test_pingpong_plays_forward_then_backward() -> None:
    assert pingpong_order(3, 1) == [0, 1, 2]
    assert pingpong_order(3, 4) == [0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0]


@pytest.mark.parametrize(
    ("frames", "rate", "legs"),
    [
        (84, Fraction(30), 8),  # 2.8 s: 8 legs = 22.4 s
        (340, Fraction(25), 2),  # 13.6 s: there and back
        (500, Fraction(25), 1),  # exactly 20 s: played as it is
        (45, Fraction(50, 3), 8),  # 2.7 s GIF at 16.67 fps: 21.6 s
    ],
)
def test_short_clips_loop_an_even_number_of_legs_to_min_seconds(
    frames: int, rate: Fraction, legs: int
) -> None:
    assert loop_legs(frames, rate) == legs
    assert frames * legs / rate >= MIN_SECONDS
    assert legs == 1 or frames * (legs - 2) / rate < MIN_SECONDS  # no more than needed


@pytest.mark.parametrize(
    ("size", "fitted"),
    [
        ((1920, 1080), (1280, 720)),
        ((1080, 1920), (720, 1280)),
        ((848, 478), (848, 478)),
        ((321, 241), (320, 240)),  # even for H.264 4:2:0
    ],
)
def test_size_is_capped_and_even(size: tuple[int, int], fitted: tuple[int, int]) -> None:
    assert fitted_size(*size) == fitted


def incident(hazard: str, start_s: float, end_s: float | None) -> Incident:
    return Incident(hazard, "frame", start_s, end_s)


def test_false_alert_seconds_count_an_open_incident_up_to_the_end() -> None:
    incidents = [
        incident("flame", 2.0, 5.0),
        incident("missing_hardhat", 0.0, None),  # another hazard: not counted
        incident("flame", 4.0, 6.0),  # overlaps the first: counted once
        incident("flame", 15.0, None),  # still open when the video ends
    ]
    assert open_seconds(incidents, "flame", 21.5) == pytest.approx(4.0 + 6.5)
    assert open_seconds([], "flame", 21.5) == 0.0


def test_per_hour() -> None:
    assert per_hour(3, 1800.0) == pytest.approx(6.0)
    assert per_hour(1, 20.0) == pytest.approx(180.0)
    assert per_hour(0, 0.0) is None


def test_totals_count_false_alerts_per_hour_of_hazard_free_footage_only() -> None:
    def clip(name: str, flame: bool, seconds: float, incidents: int) -> ClipResult:
        result = ClipResult(name, "eval", flame, None, replayed_s=seconds)
        result.flame_incidents = incidents
        result.first_flame_s = 1.5 if flame and incidents else None
        return result

    summed = totals(
        [
            clip("a", False, 1200.0, 1),
            clip("b", False, 600.0, 2),
            clip("fire", True, 900.0, 1),  # its incident is no false alarm, its time no footage
            ClipResult("broken", "eval", False, None, error="OSError: unreadable"),
        ]
    )
    assert summed.false_flame_incidents == 3
    assert summed.hazard_free_hours == pytest.approx(0.5)
    assert summed.false_flame_per_hour == pytest.approx(6.0)
    assert (summed.flame_clips, summed.flame_alerted) == (1, 1)
    assert summed.failed == ("broken",)


def test_flame_boxes_use_the_rule_thresholds_and_minimum_area() -> None:
    rule = FlameRule(fire_threshold=0.3, smoke_threshold=0.05, min_area_fraction=0.01)
    names = ("fire", "smoke", "helmet", "head")

    def boxes(*rows: tuple[int, float, float]) -> Detections:  # class, confidence, side
        return Detections(
            np.array([[0, 0, side, side] for _, _, side in rows], np.float32).reshape(-1, 4),
            np.array([conf for _, conf, _ in rows], np.float32),
            np.array([cls for cls, _, _ in rows], np.int32),
            names,
        )

    area = 100.0 * 100.0

    def found(*rows: tuple[int, float, float]) -> tuple[list[bool], list[bool]]:
        hit, sized = flame_boxes(boxes(*rows), rule, area)
        return hit.tolist(), sized.tolist()

    assert found((0, 0.29, 50), (3, 0.9, 50)) == ([False, False], [False, False])
    assert found((0, 0.3, 50)) == ([True], [True])
    assert found((1, 0.06, 5)) == ([True], [False])  # 0.25 % of the frame


def test_unknown_clip_names_are_refused() -> None:
    clips = [Clip("a.mp4", "eval", False, None, 3.0, Path("a.mp4"))]
    with pytest.raises(FootageError, match=r"b\.mp4"):
        select_clips(clips, ["b.mp4"])
    train = Clip("t.gif", "train", False, None, 3.0, Path("t.gif"))
    assert select_clips([*clips, train], use="train") == [train]
    assert len(select_clips([*clips, train], use=None)) == 2


# --------------------------------------------------------------------------- real clips


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A footage folder of symlinks to the two clips and their expectations."""
    listing = DEFAULT_FOOTAGE / EXPECTATIONS
    if not listing.is_file():
        pytest.skip(f"no footage at {DEFAULT_FOOTAGE} (shared clips are outside the repository)")
    entries = [
        e for e in json.loads(listing.read_text()) if e["name"] in {FIRE_CLIP, NEGATIVE_CLIP}
    ]
    if len(entries) != 2 or not all((DEFAULT_FOOTAGE / e["name"]).is_file() for e in entries):
        pytest.skip(f"{FIRE_CLIP} or {NEGATIVE_CLIP} missing from {DEFAULT_FOOTAGE}")
    folder = tmp_path_factory.mktemp("footage")
    for entry in entries:
        (folder / entry["name"]).symlink_to(DEFAULT_FOOTAGE / entry["name"])
    (folder / EXPECTATIONS).write_text(json.dumps(entries))
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def report(footage: Path, cache: Path) -> FootageReport:
    return run_benchmark(footage, None, cache_dir=cache, say=lambda _message: None)


def result_of(report: FootageReport, name: str) -> ClipResult:
    return next(clip for clip in report.clips if clip.name == name)


def decoded_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_the_report_has_every_figure(report: FootageReport) -> None:
    data: dict[str, Any] = json.loads(json.dumps(report.to_dict()))
    assert set(data["totals"]) >= TOTAL_KEYS
    assert [clip["name"] for clip in data["clips"]] == [NEGATIVE_CLIP, FIRE_CLIP]  # listing order
    assert all(clip["error"] is None for clip in data["clips"])
    negative = data["clips"][0]
    assert set(negative["frame_pass"]) == set(FrameTally.__slots__)
    example = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert {m["name"] for m in data["models"]} == {m["name"] for m in example["models"]}
    assert data["commit"]
    t = report.totals
    assert (t.flame_clips, t.bare_head_clips, t.hazard_free_clips) == (1, 1, 1)
    assert t.flame_alerted == sum(
        1 for c in report.clips if c.flame and c.first_flame_s is not None
    )


def test_every_decoded_frame_of_the_negative_clip_goes_through_the_detector(
    report: FootageReport, footage: Path
) -> None:
    negative = result_of(report, NEGATIVE_CLIP)
    assert negative.frame_pass is not None
    assert negative.frame_pass.frames == decoded_count(footage / NEGATIVE_CLIP)
    assert report.totals.hazard_free_frames == negative.frame_pass.frames
    assert negative.derived_frame_pass is not None
    assert negative.derived_frame_pass.frames == negative.frame_pass.frames
    assert result_of(report, FIRE_CLIP).frame_pass is None  # not a hazard-free clip


def test_short_clips_are_replayed_looped_forward_then_backward(
    report: FootageReport, footage: Path
) -> None:
    fire = result_of(report, FIRE_CLIP)
    assert fire.derived and fire.legs > 1 and fire.legs % 2 == 0
    assert fire.replayed_s >= MIN_SECONDS
    video = Path(fire.video)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert not stream.codec_context.has_b_frames
    duration_s = probe(video).duration_s
    assert duration_s is not None and duration_s >= MIN_SECONDS
    original = list(decode_frames(footage / FIRE_CLIP, SMALL))
    looped = np.stack(list(decode_frames(video, SMALL))).astype(np.int16)
    assert len(looped) == len(original) * fire.legs
    half = len(looped) // 2

    def mean_diff(a: Any, b: Any) -> float:
        return float(np.abs(a - b).mean())

    assert mean_diff(looped[half:], looped[:half][::-1]) < 3.0  # H.264 noise only
    assert mean_diff(looped[: len(original)], np.stack(original).astype(np.int16)) < 3.0
    assert mean_diff(looped[0], looped[len(original) - 1]) > 10.0  # the clip changes: order shows


def test_the_command_line_writes_the_json(footage: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "footage.json"
    main(
        ["--footage", str(footage), "--clips", FIRE_CLIP, "--json", str(out), "--cache", str(cache)]
    )
    data = json.loads(out.read_text())
    assert set(data["totals"]) >= TOTAL_KEYS
    assert [clip["name"] for clip in data["clips"]] == [FIRE_CLIP]
    assert data["totals"]["hazard_free_frames"] == 0


def test_the_production_rules_alert_on_the_fire_and_not_on_the_meeting_room(
    report: FootageReport,
) -> None:
    """What a customer sees on these two cameras: the fire alerts within 5 s, the meeting room
    (smoke boxes on its wall in most re-encoded frames) raises nothing: those boxes are still."""
    negative, fire = report.clips
    assert negative.flame_incidents == 0
    assert fire.first_flame_s is not None and fire.first_flame_s <= 5.0
    tally = negative.frame_pass
    assert tally is not None
    assert tally.living_flame_box_frames <= tally.sized_flame_box_frames <= tally.frames
