"""The flame rule on tables of timed detections sampled at 2 fps."""

from __future__ import annotations

import pytest

from core.vocabulary import WHOLE_FRAME, Hazard, Severity, ZoneKind
from detect.detections import Detections
from detect.flame_rule import FlameParams, FlameState, flame_step
from detect.observations import Observation, Phase
from detect.zone_filter import ZoneArea, rasterise_zones
from detect.zones import ZoneShape
from tests.detections import HAZARD_NAMES, SquareRow, squares

NAMES = HAZARD_NAMES
SIZE = (640, 480)
DT = 0.5
PARAMS = FlameParams()  # 3 of 5 frames, clear after 10 s
C, W = Severity.CRITICAL, Severity.WARNING

Row = SquareRow
FIRE: Row = ("fire", 0.8, 320.0, 240.0, 60.0)
SMOKE: Row = ("smoke", 0.7, 320.0, 120.0, 80.0)
BY_LETTER: dict[str, tuple[Row, ...]] = {
    ".": (),
    "F": (FIRE,),
    "S": (SMOKE,),
    "B": (FIRE, SMOKE),
}


def frame(*rows: Row) -> Detections:
    """Square boxes given by class, confidence, centre and side."""
    return squares(rows)


def frames(pattern: str) -> list[Detections]:
    """One frame per letter: F fire, S smoke, B both, . nothing."""
    return [frame(*BY_LETTER[letter]) for letter in pattern]


def observe(
    timeline: list[Detections],
    zones: list[ZoneShape] | None = None,
    params: FlameParams = PARAMS,
) -> list[Observation]:
    areas: list[ZoneArea] = rasterise_zones(zones or [], *SIZE)
    state = FlameState()
    seen: list[Observation] = []
    for index, detections in enumerate(timeline):
        state, found = flame_step(state, detections, index * DT, params, "cam", areas, SIZE)
        seen += found
    return seen


def summary(observations: list[Observation]) -> list[tuple[float, Phase, Severity]]:
    return [(o.time, o.phase, o.severity) for o in observations]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param("." * 40, [], id="nothing"),
        pytest.param("F" + "." * 40, [], id="one-frame false positive"),
        pytest.param("F.F" + "." * 40, [], id="two of five frames"),
        pytest.param("F...F...F..." + "." * 30, [], id="one frame in five, repeatedly"),
        pytest.param(
            "FF.F" + "." * 30,
            [(1.5, Phase.START, C), (12.0, Phase.END, C)],
            id="three of four frames",
        ),
        pytest.param(
            "F" * 20 + "." * 30,
            [(1.0, Phase.START, C), (20.5, Phase.END, C)],
            id="steady fire, ends clear_s after the last confirmation",
        ),
        pytest.param(
            ("FFF" + "." * 6) * 5 + "." * 30,
            [(1.0, Phase.START, C), (30.0, Phase.END, C)],
            id="flicker with 3 s gaps: one incident",
        ),
        pytest.param(
            "FFF" + "." * 30 + "FFF" + "." * 30,
            [
                (1.0, Phase.START, C),
                (12.0, Phase.END, C),
                (17.5, Phase.START, C),
                (28.5, Phase.END, C),
            ],
            id="gap longer than clear_s: two incidents",
        ),
        pytest.param(
            "S" * 10 + "." * 30,
            [(1.0, Phase.START, W), (15.5, Phase.END, W)],
            id="smoke only: a warning",
        ),
        pytest.param(
            "S" * 6 + "B" * 6 + "." * 30,
            [(1.0, Phase.START, W), (4.0, Phase.UPDATE, C), (16.5, Phase.END, C)],
            id="smoke, then fire: escalated",
        ),
        pytest.param(
            "SSFSSS" + "." * 30,
            [(1.0, Phase.START, W), (13.5, Phase.END, W)],
            id="fire in one frame only does not escalate smoke",
        ),
        pytest.param(
            "FSFSFS" + "." * 30,
            [(1.0, Phase.START, W), (2.0, Phase.UPDATE, C), (13.5, Phase.END, C)],
            id="fire and smoke alternating: flames confirmed, then fire itself",
        ),
    ],
)
def test_flame_table(pattern: str, expected: list[tuple[float, Phase, Severity]]) -> None:
    assert summary(observe(frames(pattern))) == expected


def test_steady_fire_alerts_once() -> None:
    """Minutes of fire: one start, no repeated reports, one end."""
    observations = observe(frames("F" * 240 + "." * 30))
    assert [o.phase for o in observations] == [Phase.START, Phase.END]


@pytest.mark.parametrize(
    ("row", "alerts"),
    [
        pytest.param(FIRE, True, id="above threshold"),
        pytest.param(
            ("fire", PARAMS.fire_threshold - 0.01, 320.0, 240.0, 60.0), False, id="below fire"
        ),
        pytest.param(
            ("fire", PARAMS.fire_threshold + 0.01, 320.0, 240.0, 60.0), True, id="just above fire"
        ),
        pytest.param(
            ("smoke", PARAMS.smoke_threshold - 0.01, 320.0, 240.0, 60.0), False, id="below smoke"
        ),
        pytest.param(("fire", 0.9, 320.0, 240.0, 12.0), False, id="box under min area"),
        pytest.param(("fire", 0.9, 320.0, 240.0, 13.0), True, id="box just over min area"),
        pytest.param(("head", 0.9, 320.0, 240.0, 60.0), False, id="not a flame class"),
    ],
)
def test_thresholds(row: Row, alerts: bool) -> None:
    observations = observe([frame(row)] * 6)
    assert bool(observations) is alerts


# the left half of the frame
WELDING = ZoneShape("torch-bench", ZoneKind.FLAME_ALLOWED, ((0, 0), (0.5, 0), (0.5, 1), (0, 1)))
POSTER = ZoneShape("poster", ZoneKind.IGNORE, ((0.6, 0.1), (0.9, 0.1), (0.9, 0.5), (0.6, 0.5)))


@pytest.mark.parametrize(
    ("row", "zones", "alerts"),
    [
        pytest.param(("fire", 0.9, 100.0, 240.0, 60.0), [WELDING], False, id="in flame_allowed"),
        pytest.param(
            ("fire", 0.9, 325.0, 240.0, 60.0), [WELDING], True, id="mostly outside flame_allowed"
        ),
        pytest.param(
            ("fire", 0.9, 310.0, 240.0, 60.0), [WELDING], False, id="mostly inside flame_allowed"
        ),
        pytest.param(("fire", 0.9, 100.0, 240.0, 60.0), [POSTER], True, id="ignore zone elsewhere"),
        pytest.param(("fire", 0.9, 480.0, 150.0, 60.0), [POSTER], False, id="in an ignore zone"),
        pytest.param(("smoke", 0.9, 480.0, 150.0, 60.0), [POSTER], False, id="smoke ignored too"),
    ],
)
def test_zones(row: Row, zones: list[ZoneShape], alerts: bool) -> None:
    observations = observe([frame(row)] * 6, zones)
    assert bool(observations) is alerts


def test_allowed_flames_do_not_hide_a_fire_elsewhere() -> None:
    welding = ("fire", 0.9, 100.0, 240.0, 60.0)
    fire = ("fire", 0.8, 500.0, 300.0, 60.0)
    observations = observe([frame(welding, fire)] * 6, [WELDING])
    start = observations[0]
    assert start.details["fire_count"] == 1
    assert [b.x1 for b in start.boxes] == [470.0]


def fire_of(side: float) -> Detections:
    return frame(("fire", 0.8, 320.0, 240.0, side))


def growth_updates(timeline: list[Detections]) -> list[tuple[float, Severity, float]]:
    return [
        (o.time, o.severity, float(o.details["growth"]))
        for o in observe(timeline)
        if o.phase is Phase.UPDATE
    ]


def test_growing_fire_escalates() -> None:
    # 60x60 px, then 90x90 (2.25 times the area) from frame 6
    updates = growth_updates([fire_of(60)] * 6 + [fire_of(90)] * 6)
    assert [(t, s) for t, s, _ in updates] == [(4.0, C)]  # the third large frame
    assert updates[0][2] == pytest.approx(2.25, abs=0.01)


def test_fire_growing_in_steps_escalates_at_each_doubling() -> None:
    sides = [60] * 6 + [85] * 6 + [100] * 6 + [125] * 6  # area x1, x2.0, x2.8, x4.3
    updates = growth_updates([fire_of(s) for s in sides])
    assert [t for t, _, _ in updates] == [4.0, 10.0]
    assert [round(g, 1) for _, _, g in updates] == [2.0, 4.3]


def test_a_sudden_jump_escalates_once() -> None:
    updates = growth_updates([fire_of(60)] * 6 + [fire_of(180)] * 10)  # x9
    assert len(updates) == 1
    assert updates[0][2] == pytest.approx(9.0, abs=0.01)


@pytest.mark.parametrize(
    "sides",
    [
        pytest.param([60] * 6 + [200] + [60] * 6, id="one huge frame"),
        pytest.param([60] * 6 + [80] * 10, id="grows by less than 2x (1.8x)"),
        pytest.param([60] * 6 + [90, 60, 60, 90, 60, 60], id="large in 2 of 5 frames"),
    ],
)
def test_no_escalation_without_confirmed_growth(sides: list[int]) -> None:
    assert growth_updates([fire_of(s) for s in sides]) == []


def test_observations_carry_boxes_and_details() -> None:
    both = frame(FIRE, SMOKE)
    observations = observe([both] * 3 + [frame()] * 30)
    start, end = observations
    assert (start.camera, start.zone, start.hazard) == ("cam", WHOLE_FRAME, Hazard.FLAME)
    assert start.details == {
        "max_confidence": pytest.approx(0.8),
        "fire_area_fraction": pytest.approx(3600 / (640 * 480), abs=1e-5),
        "smoke": 1,
        "fire_count": 1,
        "smoke_count": 1,
        "count": 2,
    }
    assert start.score == pytest.approx(0.8)
    assert sorted(b.label for b in start.boxes) == ["fire", "smoke"]
    fire_box = next(b for b in start.boxes if b.label == "fire")
    assert (fire_box.x1, fire_box.y1, fire_box.x2, fire_box.y2) == (290.0, 210.0, 350.0, 270.0)
    assert end.phase is Phase.END
    assert end.boxes == ()
    assert end.score == pytest.approx(0.8)
    assert end.details["count"] == 0


def test_params_reject_k_over_n() -> None:
    with pytest.raises(ValueError, match="confirm_frames"):
        FlameParams(confirm_frames=6, window_frames=5)
