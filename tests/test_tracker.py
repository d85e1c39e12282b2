"""The IoU tracker on hand-made detections sampled at 2 fps."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detect.detections import Detections
from detect.tracker import TrackerParams, TrackerState, greedy_match, track
from tests.detections import HAZARD_NAMES, SquareRow, squares

NAMES = HAZARD_NAMES
PARAMS = TrackerParams()
DT = 0.5  # 2 fps

Row = SquareRow


def frame(*rows: Row) -> Detections:
    """Square boxes given by class, confidence, centre and side."""
    return squares(rows)


def run(frames: list[Detections], params: TrackerParams = PARAMS) -> list[list[int]]:
    """The tracker ids of every frame's rows."""
    state = TrackerState.empty()
    ids: list[list[int]] = []
    for index, detections in enumerate(frames):
        state, tracked = track(state, detections, index * DT, params)
        assert tracked.tracker_id is not None
        assert len(tracked) == len(detections)
        ids.append(tracked.tracker_id.tolist())
    return ids


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        pytest.param(np.array([[0.1, 0.2], [0.3, 0.05]]), [(1, 1), (0, 0)], id="diagonal"),
        pytest.param(
            np.array([[0.1, 0.2], [0.15, np.inf]]), [(0, 0)], id="conflict left unmatched"
        ),
        pytest.param(np.array([[0.3, 0.2], [0.1, np.inf]]), [(1, 0), (0, 1)], id="cheapest first"),
        pytest.param(np.array([[np.inf, np.inf]]), [], id="nothing allowed"),
        pytest.param(np.zeros((0, 3)), [], id="no tracks"),
    ],
)
def test_greedy_match(cost: npt.NDArray[np.float64], expected: list[tuple[int, int]]) -> None:
    assert greedy_match(cost) == expected


def walk(
    start_x: float, step_x: float, frames: int, y: float = 200.0, size: float = 40.0
) -> list[Row]:
    """One head moving ``step_x`` pixels per frame."""
    return [("head", 0.9, start_x + i * step_x, y, size) for i in range(frames)]


@pytest.mark.parametrize(
    "step_x",
    [
        pytest.param(10.0, id="overlapping boxes (IoU match)"),
        pytest.param(50.0, id="no overlap: 1.25 box widths per frame"),
        pytest.param(90.0, id="walking fast: 2.25 box widths per frame (velocity)"),
    ],
)
def test_one_person_keeps_its_id(step_x: float) -> None:
    rows = walk(1000.0, step_x, 8)
    ids = run([frame(row) for row in rows])
    assert ids[0] == [-1]  # tentative until min_hits
    assert len({i[0] for i in ids[1:]}) == 1
    assert ids[1][0] > 0


def test_velocity_carries_a_track_through_long_strides() -> None:
    """Strides of 5 head widths per frame: only the predicted position is close enough."""
    xs = [100.0, 200.0, 400.0, 600.0, 800.0, 1000.0, 1200.0]
    ids = run([frame(("head", 0.9, x, 200.0, 40.0)) for x in xs])
    assert len({i[0] for i in ids[1:]}) == 1
    assert ids[-1][0] > 0


def test_two_nearby_people_keep_separate_ids() -> None:
    left = walk(100.0, 30.0, 10, y=200.0)
    right = walk(160.0, 30.0, 10, y=210.0)  # 1.5 head widths apart, same direction
    ids = run([frame(a, b) for a, b in zip(left, right, strict=True)])
    lefts = {i[0] for i in ids[1:]}
    rights = {i[1] for i in ids[1:]}
    assert len(lefts) == 1
    assert len(rights) == 1
    assert lefts != rights
    # the same holds when they are listed in the other order
    swapped = run([frame(b, a) for a, b in zip(left, right, strict=True)])
    assert len({i[1] for i in swapped[1:]}) == 1
    assert {i[1] for i in swapped[1:]} != {i[0] for i in swapped[1:]}


def test_people_walking_past_each_other() -> None:
    """Two heads on crossing paths at different heights keep their ids."""
    east = walk(100.0, 40.0, 10, y=200.0)
    west = walk(460.0, -40.0, 10, y=260.0)
    ids = run([frame(a, b) for a, b in zip(east, west, strict=True)])
    assert len({i[0] for i in ids[1:]}) == 1
    assert len({i[1] for i in ids[1:]}) == 1
    assert ids[1][0] != ids[1][1]


@pytest.mark.parametrize(
    ("gap", "same_id"),
    [
        pytest.param(1, True, id="one missed frame"),
        pytest.param(4, True, id="max_missed frames"),
        pytest.param(5, False, id="one more: a new track"),
    ],
)
def test_a_confirmed_track_survives_max_missed_frames(gap: int, same_id: bool) -> None:
    person = ("head", 0.9, 200.0, 200.0, 40.0)
    frames = [frame(person)] * 3 + [frame()] * gap + [frame(person)] * 3
    ids = run(frames)
    before, after = ids[2][0], ids[-1][0]
    assert (before == after) is same_id
    assert after > 0


def test_a_tentative_track_dies_on_its_first_miss() -> None:
    person = ("head", 0.9, 200.0, 200.0, 40.0)
    ids = run([frame(person), frame(), frame(person), frame(person)])
    assert ids[0] == [-1]
    assert ids[2] == [-1]  # new tentative track, not the first one confirmed
    assert ids[3][0] > 0


def test_min_hits_of_one_reports_at_once() -> None:
    person = ("head", 0.9, 200.0, 200.0, 40.0)
    ids = run([frame(person), frame(person)], TrackerParams(min_hits=1))
    assert ids[0][0] > 0
    assert ids[0] == ids[1]


def test_weak_detections_keep_a_track_but_start_none() -> None:
    strong = ("head", 0.9, 200.0, 200.0, 40.0)
    weak = ("head", 0.3, 204.0, 200.0, 40.0)
    lone_weak = ("head", 0.3, 500.0, 100.0, 40.0)
    ids = run([frame(strong), frame(strong)] + [frame(weak, lone_weak)] * 6 + [frame(strong)])
    confirmed = ids[1][0]
    assert all(i == [confirmed, -1] for i in ids[2:8])
    assert ids[8] == [confirmed]


def test_helmet_head_flips_keep_the_id_other_classes_do_not_match() -> None:
    classes = ["head", "helmet", "head", "head", "helmet", "helmet"]
    person = [(c, 0.8, 200.0 + 5 * i, 200.0, 40.0) for i, c in enumerate(classes)]
    fire_at_same_place = [("fire", 0.8, 200.0 + 5 * i, 200.0, 40.0) for i in range(6)]
    ids = run([frame(p, f) for p, f in zip(person, fire_at_same_place, strict=True)])
    people = {i[0] for i in ids[1:]}
    fires = {i[1] for i in ids[1:]}
    assert len(people) == 1
    assert len(fires) == 1
    assert people != fires


def test_rows_keep_their_order_and_weak_rows_stay_untracked() -> None:
    rows = [("head", 0.9, 100.0, 100.0, 40.0), ("head", 0.05, 300.0, 100.0, 40.0)]
    ids = run([frame(*rows), frame(*rows)])
    assert ids[1][0] > 0
    assert ids[1][1] == -1
