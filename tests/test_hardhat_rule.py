"""The hard hat rule (behind the tracker) on tables of timed detections sampled at 2 fps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.vocabulary import WHOLE_FRAME, Hazard, Severity, ZoneKind
from detect.detections import Detections
from detect.hardhat_rule import (
    HardhatParams,
    HardhatState,
    hardhat_step,
    hardhat_subjects,
    judge_people,
)
from detect.observations import Observation, Phase
from detect.tracker import TrackerParams, TrackerState, track
from detect.zone_filter import rasterise_zones
from detect.zones import ZoneShape
from tests.detections import HAZARD_NAMES, detections, squares

NAMES = HAZARD_NAMES
SIZE = (640, 480)
DT = 0.5
PARAMS = HardhatParams()  # 3 s, 60 % of the frames, clear after 15 s

# the lower left of the frame: x < 448, y > 144
BAY = ZoneShape("loading-bay", ZoneKind.HARDHAT_REQUIRED, ((0, 0.3), (0.7, 0.3), (0.7, 1), (0, 1)))
YARD = ZoneShape("yard", ZoneKind.HARDHAT_REQUIRED, ((0.75, 0), (1, 0), (1, 1), (0.75, 1)))
MIRROR = ZoneShape("mirror", ZoneKind.IGNORE, ((0, 0.3), (0.2, 0.3), (0.2, 0.6), (0, 0.6)))

Row = tuple[str, float, float, float]  # class, confidence, centre x, centre y
Person = Callable[[float], Row | None]  # what the detector sees of one person at a time


def frame(rows: list[Row]) -> Detections:
    """40 px square head boxes."""
    return squares([(n, c, x, y, 40.0) for n, c, x, y in rows])


def standing(
    x: float,
    y: float,
    start: float = 0.0,
    end: float = 20.0,
    classes: str = "h",
    confidence: float = 0.8,
) -> Person:
    """A person swaying a little on the spot; ``classes`` cycles per frame (h head, H helmet)."""

    def seen(t: float) -> Row | None:
        if not start <= t < end:
            return None
        index = round((t - start) / DT)
        name = "head" if classes[index % len(classes)] == "h" else "helmet"
        return (name, confidence, x + 3 * (index % 3), y)

    return seen


def walking(x: float, y: float, start: float, end: float, px_per_s: float) -> Person:
    def seen(t: float) -> Row | None:
        return ("head", 0.8, x + px_per_s * (t - start), y) if start <= t <= end else None

    return seen


def then(first: Person, switch_at: float, second: Person) -> Person:
    """``first`` until ``switch_at``, then ``second``."""
    return lambda t: first(t) if t < switch_at else second(t)


def observe(
    people: list[Person],
    duration_s: float,
    zones: list[ZoneShape] | None = None,
    params: HardhatParams = PARAMS,
) -> list[Observation]:
    areas = rasterise_zones([BAY] if zones is None else zones, *SIZE)
    tracker, state = TrackerState.empty(), HardhatState()
    seen: list[Observation] = []
    for index in range(round(duration_s / DT)):
        now = index * DT
        rows = [row for person in people if (row := person(now)) is not None]
        tracker, tracked = track(tracker, frame(rows), now, TrackerParams())
        state, found = hardhat_step(state, tracked, now, params, "cam", areas)
        seen += found
    return seen


def summary(observations: list[Observation]) -> list[tuple[float, Phase, int]]:
    return [(o.time, o.phase, int(o.details["count"])) for o in observations]


@pytest.mark.parametrize(
    ("people", "expected"),
    [
        pytest.param([], [], id="nobody"),
        pytest.param(
            [standing(200, 300)],
            # tracked from 0.5 s (min_hits 2), counts from 3.5 s; leaves at 20 s, once counted
            # keeps counting while bare in >= 30 % of the last 3 s (until 21.5 s); ends 15 s later
            [(3.5, Phase.START, 1), (36.5, Phase.END, 0)],
            id="bare head standing in the zone",
        ),
        pytest.param([walking(100, 300, 5.0, 6.0, 100)], [], id="walks through the zone in 1 s"),
        pytest.param([standing(200, 300, start=5.0, end=5.5)], [], id="seen once"),
        pytest.param(
            [standing(200, 300, start=5.0, end=7.5)], [], id="seen 2.5 s, shorter than 3 s"
        ),
        pytest.param([standing(550, 300)], [], id="standing outside the zone"),
        pytest.param([standing(200, 100)], [], id="above the zone"),
        pytest.param([standing(200, 300, classes="H")], [], id="wearing a hard hat"),
        pytest.param([standing(200, 300, classes="HHh")], [], id="helmet/head flicker, 1/3 bare"),
        pytest.param([standing(200, 300, classes="Hh")], [], id="helmet/head flicker, 1/2 bare"),
        pytest.param(
            [standing(200, 300, confidence=PARAMS.head_threshold - 0.01)],
            [],
            id="bare head below the threshold",
        ),
        pytest.param([standing(60, 200)], [], id="in an ignore zone"),
        pytest.param(
            [then(standing(200, 300, classes="H"), 10.0, standing(200, 300, start=10.0))],
            [(12.0, Phase.START, 1), (36.5, Phase.END, 0)],
            id="takes the hard hat off after 10 s",
        ),
        pytest.param(
            [standing(150, 300), standing(250, 300, start=8.0)],
            [(3.5, Phase.START, 1), (11.5, Phase.UPDATE, 2), (36.5, Phase.END, 0)],
            id="a second person joins",
        ),
    ],
)
def test_hardhat_table(people: list[Person], expected: list[tuple[float, Phase, int]]) -> None:
    assert summary(observe(people, 40.0, [BAY, MIRROR])) == expected


def test_the_walker_is_tracked_and_counts_with_a_short_duration() -> None:
    """The control of the walk-through case: the same walker alerts when 0.5 s suffice."""
    walker = walking(100, 300, 5.0, 6.0, 100)
    assert observe([walker], 30.0) == []
    quick = observe([walker], 30.0, params=HardhatParams(min_duration_s=0.5))
    assert [o.phase for o in quick] == [Phase.START, Phase.END]


def test_flicker_mostly_bare_still_alerts() -> None:
    """The counterpart of the flicker cases: bare in 2 of 3 frames counts."""
    observations = observe([standing(200, 300, classes="hhH")], 20.0)
    assert [o.phase for o in observations][:1] == [Phase.START]


def test_crew_of_three() -> None:
    """Three people without hard hats: one incident; one puts a hard hat on; all leave."""
    crew = [
        standing(100, 300),
        standing(200, 300),
        then(standing(300, 300), 10.0, standing(300, 300, start=10.0, classes="H")),
    ]
    observations = observe(crew, 40.0)
    assert summary(observations) == [
        (3.5, Phase.START, 3),
        (12.0, Phase.UPDATE, 2),  # bare in < 30 % of the window once the hard hat is on
        (36.5, Phase.END, 0),  # 15 s after the last of them counted
    ]
    start, update, end = observations
    assert {o.zone for o in observations} == {"loading-bay"}
    assert start.hazard is Hazard.MISSING_HARDHAT
    assert start.severity is Severity.WARNING
    assert start.outline == ((0, 144), (447, 144), (447, 479), (0, 479))
    assert sorted(b.x1 for b in start.boxes) == [83.0, 183.0, 283.0]  # swayed 3 px
    assert {b.label for b in start.boxes} == {"head"}
    assert len(update.boxes) == 2
    assert end.details == {"count": 0, "peak_count": 3}
    assert end.boxes == ()
    assert end.score == pytest.approx(0.8)


def test_a_counted_person_flickering_near_the_threshold_keeps_the_count() -> None:
    """Hysteresis: two counted people, one then seen bare in only half of the frames (a score
    hovering around head_threshold). The count stays 2 instead of flickering 2 -> 1 -> 2; the
    control without hysteresis (keep_presence = min_presence) shows the flicker."""
    crew = [standing(100, 300), then(standing(300, 300), 8.0, standing(300, 300, classes="hhH"))]
    crew[1] = then(crew[1], 12.0, standing(300, 300, start=12.0, classes="hH"))
    steady = observe(crew, 20.0, params=HardhatParams(clear_s=60.0))
    assert summary(steady) == [(3.5, Phase.START, 2)]
    without = observe(crew, 20.0, params=HardhatParams(clear_s=60.0, keep_presence=0.6))
    assert len([o for o in without if o.phase is Phase.UPDATE]) >= 2


def test_whole_frame_without_hardhat_zones() -> None:
    observations = observe([standing(550, 100)], 10.0, zones=[])
    assert [(o.zone, o.phase) for o in observations] == [(WHOLE_FRAME, Phase.START)]
    assert observations[0].outline == ()


def test_one_incident_per_zone() -> None:
    observations = observe([standing(200, 300), standing(560, 200, start=2.0)], 10.0, [BAY, YARD])
    assert [(o.time, o.zone, o.phase) for o in observations] == [
        (3.5, "loading-bay", Phase.START),
        (5.5, "yard", Phase.START),
    ]


def test_untracked_rows_do_not_count() -> None:
    """Rows the tracker has not confirmed (tracker_id -1) are ignored."""
    areas = rasterise_zones([BAY], *SIZE)
    untracked = detections([("head", 0.9, (180, 280, 220, 320))], tracker_id=[-1])
    state, found = HardhatState(), []
    for index in range(20):
        state, observations = hardhat_step(state, untracked, index * DT, PARAMS, "cam", areas)
        found += observations
    assert found == []


def test_needs_tracked_detections() -> None:
    with pytest.raises(ValueError, match="tracked"):
        hardhat_step(HardhatState(), frame([]), 0.0, PARAMS, "cam", [])


def test_state_forgets_people_who_left() -> None:
    areas = rasterise_zones([BAY], *SIZE)
    tracker, state = TrackerState.empty(), HardhatState()
    for index in range(60):
        now = index * DT
        rows = [("head", 0.8, 200.0, 300.0)] if now < 10 else []
        tracker, tracked = track(tracker, frame(rows), now, TrackerParams())
        state, _ = hardhat_step(state, tracked, now, PARAMS, "cam", areas)
    assert state.tracks == {}
    assert len(state.frame_times) == 7  # the frames of the last 3 s


# --------------------------------------------------------------------------- people
# A person finder's ``person`` boxes beside the hazard model's heads: a 100 x 240 px person
# whose head is at the top of its box, seen for 10 s. The person's head region is the top
# 35 % of its box (y 150..234 here), its centre (200, 192) lies in BAY.

PEOPLE_NAMES = (*NAMES, "person")
PersonRow = tuple[str, float, float, float, float, float]  # class, confidence, x1, y1, x2, y2
WORKER: PersonRow = ("person", 0.8, 150.0, 150.0, 250.0, 390.0)
ON_HEAD = (180.0, 152.0, 220.0, 192.0)  # a head-sized box on the worker's head


def on_head(name: str, confidence: float, box: tuple[float, ...] = ON_HEAD) -> PersonRow:
    x1, y1, x2, y2 = box
    return (name, confidence, x1, y1, x2, y2)


def boxes(rows: list[PersonRow]) -> Detections:
    return detections([(r[0], r[1], (r[2], r[3], r[4], r[5])) for r in rows], PEOPLE_NAMES)


def observe_people(
    frames: Callable[[int], list[PersonRow]],
    zones: list[ZoneShape],
    duration_s: float = 10.0,
    params: HardhatParams = PARAMS,
) -> list[Observation]:
    """The hard hat rule as ``CameraRules`` runs it: subjects, tracker, rule."""
    areas = rasterise_zones(zones, *SIZE)
    tracker, state = TrackerState.empty(), HardhatState()
    seen: list[Observation] = []
    for index in range(round(duration_s / DT)):
        now = index * DT
        subjects = hardhat_subjects(boxes(frames(index)), params)
        tracker, tracked = track(tracker, subjects, now, TrackerParams(high_threshold=0.1))
        state, found = hardhat_step(state, tracked, now, params, "cam", areas, SIZE)
        seen += found
    return seen


def still(*rows: PersonRow) -> Callable[[int], list[PersonRow]]:
    return lambda _index: list(rows)


def moved(row: PersonRow, dx: float = 0.0, dy: float = 0.0) -> PersonRow:
    name, confidence, x1, y1, x2, y2 = row
    return (name, confidence, x1 + dx, y1 + dy, x2 + dx, y2 + dy)


@pytest.mark.parametrize(
    ("frames", "zones", "expected"),
    [
        pytest.param(still(WORKER), [BAY], [(3.5, Phase.START, 1)], id="no hard hat seen"),
        pytest.param(still(WORKER, on_head("helmet", 0.8)), [BAY], [], id="a hard hat on the head"),
        pytest.param(
            still(WORKER, on_head("helmet", PARAMS.helmet_threshold - 0.01)),
            [BAY],
            [(3.5, Phase.START, 1)],
            id="a helmet box below helmet_threshold",
        ),
        pytest.param(
            still(WORKER, on_head("helmet", 0.8, (180, 330, 220, 370))),
            [BAY],
            [(3.5, Phase.START, 1)],
            id="a hard hat carried at the waist",
        ),
        pytest.param(
            still(WORKER, on_head("head", 0.6)),
            [BAY],
            [(3.5, Phase.START, 1)],
            id="a bare head box on the person counts once",
        ),
        pytest.param(
            still(WORKER, on_head("helmet", 0.7), on_head("head", 0.3, (150, 200, 190, 234))),
            [BAY],
            [(3.5, Phase.START, 1)],
            id="a bare head beside a hard hat counts on its own, as without people",
        ),
        pytest.param(
            still(WORKER, on_head("helmet", 0.2), on_head("head", 0.3, (150, 200, 190, 234))),
            [BAY],
            [(3.5, Phase.START, 1)],
            id="a bare-headed person stands for the head boxes on it",
        ),
        pytest.param(
            lambda i: [WORKER, on_head("helmet", 0.8)] if i % 2 else [WORKER],
            [BAY],
            [],
            id="the hard hat found in half of the frames",
        ),
        pytest.param(
            still(("person", 0.8, 150, 340, 170, 390)),
            [BAY],
            [],
            id="too small to judge",
        ),
        pytest.param(
            still(("person", 0.8, 150, 340, 170, 390), on_head("head", 0.6, (150, 340, 170, 360))),
            [BAY],
            [(3.5, Phase.START, 1)],
            id="too small to judge, its bare head box still counts",
        ),
        pytest.param(
            still(("person", 0.8, 150, 0, 250, 390)), [BAY], [], id="head cut off at the top"
        ),
        pytest.param(
            still(("person", 0.8, 0, 150, 100, 390)), [BAY], [], id="cut off at the left side"
        ),
        pytest.param(
            still(("person", 0.8, 540, 150, 640, 390)), [], [], id="cut off at the right side"
        ),
        pytest.param(
            still(("person", 0.8, 150, 250, 400, 390)), [BAY], [], id="bent over: wider than tall"
        ),
        pytest.param(
            still(("person", PARAMS.person_threshold - 0.01, *WORKER[2:])),
            [BAY],
            [],
            id="a person box below person_threshold",
        ),
        pytest.param(still(moved(WORKER, dx=-130)), [BAY, MIRROR], [], id="head in an ignore zone"),
        pytest.param(
            still(moved(WORKER, dy=-110)),
            [BAY],
            [],
            id="body in the zone, head above it",
        ),
        pytest.param(
            still(WORKER, ("person", 0.8, 400, 150, 500, 390)),
            [],
            [(3.5, Phase.START, 2)],
            id="two people, whole frame",
        ),
        pytest.param(
            still(WORKER, ("head", 0.6, 500, 100, 540, 140)),
            [],
            [(3.5, Phase.START, 2)],
            id="a person and a bare head of someone the finder missed",
        ),
    ],
)
def test_people_table(
    frames: Callable[[int], list[PersonRow]],
    zones: list[ZoneShape],
    expected: list[tuple[float, Phase, int]],
) -> None:
    assert summary(observe_people(frames, zones)) == expected


def test_a_counted_person_is_reported_with_its_box() -> None:
    start, *_ = observe_people(still(WORKER), [BAY])
    assert [(b.label, b.x1, b.y1, b.x2, b.y2) for b in start.boxes] == [
        ("person", 150.0, 150.0, 250.0, 390.0)
    ]
    assert start.score == pytest.approx(0.8)


def test_people_need_the_frame_size() -> None:
    _, tracked = track(TrackerState.empty(), boxes([WORKER]), 0.0, TrackerParams())
    with pytest.raises(ValueError, match="frame size"):
        hardhat_step(HardhatState(), tracked, 0.0, PARAMS, "cam", [])


@pytest.mark.parametrize(
    ("share", "height", "judged"),
    [(0.1, 64, True), (0.1, 63, False), (0.2, 127, False), (0.0, 30, True)],
)
def test_min_person_size_is_a_share_of_the_longer_side(
    share: float, height: float, judged: bool
) -> None:
    person = boxes([("person", 0.8, 100, 100, 130, 100 + height)])
    verdicts = judge_people(person, HardhatParams(min_person_size=share), SIZE)
    assert verdicts.judged.tolist() == [judged]


@pytest.mark.parametrize(("same_person_check", "counts"), [(True, [1]), (False, [1, 2])])
def test_a_person_and_its_own_head_box_count_once(
    same_person_check: bool, counts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person finder misses the worker in every other frame: there its bare head box counts
    on its own (a second track). With both tracks counting (presence 40 %), the worker is
    still one person; the control without that check counts two."""
    import detect.hardhat_rule

    if not same_person_check:
        monkeypatch.setattr(detect.hardhat_rule, "_heads_on_people", lambda *_: set())

    def frames(index: int) -> list[PersonRow]:
        head = on_head("head", 0.6)
        if index < 12:  # 6 s: only the head box
            return [head]
        if index < 14 or index % 2:  # seen twice in a row (a confirmed track), then every other
            return [WORKER, head]
        return [head]

    params = HardhatParams(min_presence=0.4, keep_presence=0.3)
    observations = observe_people(frames, [BAY], duration_s=15.0, params=params)
    assert [int(o.details["count"]) for o in observations] == counts
