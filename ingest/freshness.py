"""Whether a frame from a live stream is fresh: a frame held up by a hung server is stale.

A stream's timestamps run with the camera's capture clock. Over one connection the smallest
``arrival - stream time`` seen is the stream arriving on time; a frame's *lag* is how much later
than that it arrives. A frame that waited in a stopped server, or that the demuxer only let go
when its read timed out, shows the wait as lag: past the stall threshold it is stale, and must
neither count as the camera being online nor reach the rules.

Two things re-anchor the clock, so that a stream never stays stale for good: timestamps that go
backwards (the stream restarted its clock), and frames that flow again steadily, all late by
about the same delay, for the stall threshold in both arrival and stream time with no silence
that long between them (a server that was paused and resumed without skipping: that delay is
now the stream's latency, not a hang).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKWARD_TOLERANCE_S = 1.0  # timestamps this much lower than the last one: a clock restart


@dataclass(frozen=True, slots=True)
class Lateness:
    """How late one frame arrived."""

    lag_s: float  # behind the stream's own clock, 0 when on time
    stale: bool  # older than the stall threshold: not a live picture
    reanchored: bool = False  # a late stream accepted as flowing again (its delay reset)


@dataclass(slots=True)
class _LateRun:
    """A run of stale frames: the first one, and when the last one arrived."""

    arrival: float
    stream_time: float
    last_arrival: float


class StreamClock:
    """Lateness of the frames of one connection (reset it on reconnect)."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s
        self._baseline: float | None = None
        self._last_stream_time: float | None = None
        self._late_run: _LateRun | None = None

    def check(self, arrival: float, stream_time: float | None) -> Lateness:
        """Lateness of a frame that arrived at ``arrival`` (monotonic seconds) carrying
        ``stream_time`` (seconds on the stream's clock). A frame without one comes after the
        last stamped frame, so it is judged as if it had that frame's time (before any
        stamped frame: on time)."""
        if stream_time is None:
            if self._baseline is None or self._last_stream_time is None:
                return Lateness(0.0, False)
            lag = max(0.0, arrival - self._last_stream_time - self._baseline)
            return Lateness(lag, lag > self.stale_after_s)
        offset = arrival - stream_time
        restarted = (
            self._last_stream_time is not None
            and stream_time < self._last_stream_time - BACKWARD_TOLERANCE_S
        )
        self._last_stream_time = stream_time
        if self._baseline is None or restarted or offset < self._baseline:
            self._baseline = offset
        lag = offset - self._baseline
        if lag <= self.stale_after_s:
            self._late_run = None
            return Lateness(lag, False)
        run = self._late_run
        if run is None or arrival - run.last_arrival >= self.stale_after_s:
            self._late_run = _LateRun(arrival, stream_time, arrival)
            return Lateness(lag, True)
        run.last_arrival = arrival
        steady = (
            arrival - run.arrival >= self.stale_after_s
            and stream_time - run.stream_time >= self.stale_after_s
        )
        if steady:
            self._baseline, self._late_run = offset, None
            return Lateness(lag, False, reanchored=True)
        return Lateness(lag, True)
