"""The blocked-exit rule on tables of timed measurements."""

from __future__ import annotations

import pytest

from detect.blocked_exit import BlockedExitParams, ExitState, step
from detect.observations import Phase

PARAMS = BlockedExitParams(min_blocked_fraction=0.4, dwell_s=5.0, clear_s=3.0)


def run(series: list[tuple[float, float]]) -> list[tuple[float, Phase]]:
    state = ExitState()
    seen: list[tuple[float, Phase]] = []
    for now, fraction in series:
        state, observations = step(state, fraction, now, PARAMS, "cam", "exit")
        seen += [(o.time, o.phase) for o in observations]
    return seen


def ticks(start: float, end: float, fraction: float) -> list[tuple[float, float]]:
    return [(float(t), fraction) for t in range(int(start), int(end))]


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        pytest.param(ticks(0, 60, 0.0), [], id="always clear"),
        pytest.param(
            ticks(0, 10, 0.0) + ticks(10, 13, 0.9) + ticks(13, 40, 0.0),
            [],
            id="person walks through (shorter than dwell)",
        ),
        pytest.param(
            ticks(0, 10, 0.0) + ticks(10, 30, 0.8),
            [(15.0, Phase.START)],
            id="blocked past dwell",
        ),
        pytest.param(
            ticks(0, 10, 0.8) + ticks(10, 20, 0.0),
            [(5.0, Phase.START), (13.0, Phase.END)],
            id="blocked then cleared",
        ),
        pytest.param(
            ticks(0, 10, 0.8) + ticks(10, 12, 0.0) + ticks(12, 20, 0.8) + ticks(20, 30, 0.0),
            [(5.0, Phase.START), (23.0, Phase.END)],
            id="brief clearing does not split the incident",
        ),
        pytest.param(
            ticks(0, 10, 0.5) + ticks(10, 20, 0.9),
            [(5.0, Phase.START), (10.0, Phase.UPDATE)],
            id="growing blockage reported once",
        ),
        pytest.param(ticks(0, 30, 0.39), [], id="just under the threshold"),
    ],
)
def test_blocked_exit_table(
    series: list[tuple[float, float]], expected: list[tuple[float, Phase]]
) -> None:
    assert run(series) == expected


def test_end_reports_the_peak() -> None:
    state = ExitState()
    observations = []
    for now, fraction in [*ticks(0, 8, 0.5), *ticks(8, 10, 0.95), *ticks(10, 20, 0.0)]:
        state, found = step(state, fraction, now, PARAMS, "cam", "exit")
        observations += found
    assert observations[-1].phase is Phase.END
    assert observations[-1].score == pytest.approx(0.95)
