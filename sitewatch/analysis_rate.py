"""How fast each camera is really analysed, and the one warning when the node cannot keep up.

``RateMeter`` gives a camera's achieved rate over the last seconds; ``OverloadWatch`` compares
every camera's achieved rate with its configured one and logs once, with the numbers, when the
analysis (not the camera) is what holds them back.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

RATE_WINDOW_S = 10.0
SLOW_SHARE = 0.9  # below this share of the configured rate a camera is held back
GRACE_S = 30.0  # after start (models warming, cameras connecting) nothing is judged


class RateMeter:
    """Events per second over the last ``window_s`` seconds (times on one monotonic clock)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def record(self, now: float) -> None:
        """One event at ``now``."""
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        """Events per second in the window ending at ``now`` (0 before two events)."""
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window_s:
            self._times.popleft()


@dataclass(frozen=True, slots=True)
class CameraRate:
    """One camera's rates: configured, achieved, and what its stream delivers."""

    camera: str
    configured_fps: float
    achieved_fps: float
    source_fps: float  # decoded frames per second (0 when unknown or offline)


def held_back(rate: CameraRate) -> bool:
    """The analysis, not the stream, keeps this camera below its configured rate."""
    wanted = min(rate.configured_fps, rate.source_fps)
    return rate.source_fps > 0 and rate.achieved_fps < SLOW_SHARE * wanted


class OverloadWatch:
    """Warns once (the first time) when cameras are analysed slower than configured because the
    node is short of CPU; later episodes and recoveries are logged at info level."""

    def __init__(self, started_at: float) -> None:
        self._started_at = started_at
        self.overloaded = False
        self.episodes = 0

    def check(self, rates: Sequence[CameraRate], now: float, age_ms: float | None) -> bool:
        """Judge the current rates (``age_ms``: the worst recent frame age to the result)."""
        if now - self._started_at < GRACE_S:
            return False
        slow = [r for r in rates if held_back(r)]
        if slow and not self.overloaded:
            self.overloaded = True
            self.episodes += 1
            achieved = [r.achieved_fps for r in slow]
            configured = sorted({r.configured_fps for r in slow})
            log.log(
                logging.WARNING if self.episodes == 1 else logging.INFO,
                "analysis cannot keep up: %d of %d cameras analysed at %.2f-%.2f frames/s "
                "instead of %s (every camera is slowed alike; frame age to the result %s); "
                "lower detect_fps, drop a model or analyse substreams",
                len(slow),
                len(rates),
                min(achieved),
                max(achieved),
                "/".join(f"{c:g}" for c in configured),
                "unknown" if age_ms is None else f"{age_ms:.0f} ms",
            )
        elif not slow and self.overloaded:
            self.overloaded = False
            log.info("analysis keeps up again: every camera at its configured rate")
        return self.overloaded
