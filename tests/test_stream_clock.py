"""ingest.freshness: which frames of a live stream are stale, on timed sequences."""

from __future__ import annotations

from collections.abc import Iterable

from ingest.freshness import StreamClock

STALL_S = 5.0
STEP = 0.04  # 25 fps


def verdicts(frames: Iterable[tuple[float, float | None]]) -> list[bool]:
    """Stale or not for each (arrival, stream time), through one clock."""
    clock = StreamClock(STALL_S)
    return [clock.check(arrival, stream).stale for arrival, stream in frames]


def steady(first_arrival: float, first_stream: float, count: int) -> list[tuple[float, float]]:
    return [(first_arrival + i * STEP, first_stream + i * STEP) for i in range(count)]


def test_a_steady_stream_is_fresh() -> None:
    assert not any(verdicts(steady(100.0, 3.0, 500)))


def test_a_start_burst_is_fresh() -> None:
    burst = [(100.0 + i * 0.001, i * STEP) for i in range(50)]  # 2 s of frames in 50 ms
    assert not any(verdicts([*burst, *steady(100.06, 2.0, 100)]))


def test_a_frame_held_up_by_a_hung_server_is_stale() -> None:
    before = steady(100.0, 0.0, 100)  # up to stream 3.96 at 103.96
    held = (114.0, 4.0)  # the next frame comes out of the demuxer at the read timeout
    assert verdicts([*before, held]) == [False] * 100 + [True]


def test_late_but_within_the_stall_threshold_is_fresh() -> None:
    assert verdicts([*steady(100.0, 0.0, 100), (108.0, 4.0)])[-1] is False


def test_a_camera_that_resumes_on_its_own_clock_is_fresh_at_once() -> None:
    before = steady(100.0, 0.0, 100)
    after = steady(124.0, 24.0, 50)  # timestamps jumped over the hang
    assert not any(verdicts([*before, *after]))


def test_a_catch_up_burst_is_stale_until_it_is_within_the_threshold() -> None:
    before = steady(100.0, 0.0, 100)
    # Resumed at 124 s, the server sends what it held, 20 s of stream in 0.5 s, then live.
    burst = [(124.0 + i * 0.001, 4.0 + i * STEP) for i in range(500)]
    found = verdicts([*before, *burst])[100:]
    lags = [124.0 + i * 0.001 - (4.0 + i * STEP) - 100.0 for i in range(500)]
    assert found == [lag > STALL_S for lag in lags]
    assert found[0] and not found[-1]


def test_a_stream_resumed_late_is_taken_back_after_flowing_for_the_threshold() -> None:
    before = steady(100.0, 0.0, 100)
    # Paused 20 s, then resumed where it stopped: every frame now 20 s behind, for good.
    after = steady(124.0, 4.0, 300)
    found = verdicts([*before, *after])[100:]
    flowing_for = int(STALL_S / STEP)  # frames until both clocks moved on STALL_S
    assert all(found[:flowing_for])
    assert not any(found[flowing_for + 1 :])


def test_isolated_late_frames_do_not_take_the_stream_back() -> None:
    before = steady(100.0, 0.0, 100)
    # One stale frame every 6 s (longer than the threshold): never a steady flow.
    isolated = [(114.0 + 6 * i, 4.0 + 6 * i) for i in range(5)]
    assert all(verdicts([*before, *isolated])[100:])


def test_timestamps_going_back_restart_the_clock() -> None:
    before = steady(100.0, 50.0, 100)
    restarted = steady(104.0, 0.0, 100)  # the stream restarted its timestamps at 0
    assert not any(verdicts([*before, *restarted]))


def test_a_frame_without_a_timestamp_is_judged_by_the_last_stamped_one() -> None:
    assert verdicts([(100.0, None)]) == [False]  # nothing to judge by yet
    before = steady(100.0, 0.0, 100)
    assert verdicts([*before, (104.0, None)])[-1] is False
    assert verdicts([*before, (124.0, None)])[-1] is True
