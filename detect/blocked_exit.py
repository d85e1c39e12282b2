"""Blocked-exit rule: pure (state, blocked share, time) -> (state, observations).

A zone must stay blocked for ``dwell_s`` before an incident starts (people walking through do not
count) and stay clear for ``clear_s`` before it ends. A measurement of ``None`` means "cannot
tell now" (people in the zone, or the zone moving): the zone keeps its phase and its timers, so a
person crossing never starts an incident and one standing in front of a pallet does not end it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from core.vocabulary import Hazard, Severity
from detect.observations import Observation, Phase


@dataclass(frozen=True, slots=True)
class BlockedExitParams:
    """Thresholds of the rule."""

    min_blocked_fraction: float = 0.35
    dwell_s: float = 30.0
    clear_s: float = 10.0
    update_step: float = 0.15  # report again when the blocked share moves this much


class ZonePhase(StrEnum):
    """Where one exit zone stands."""

    CLEAR = "clear"
    CANDIDATE = "candidate"  # blocked, dwell not yet reached
    BLOCKED = "blocked"  # incident open
    CLEARING = "clearing"  # incident open, zone clear, waiting clear_s


@dataclass(frozen=True, slots=True)
class ExitState:
    """The rule's memory for one exit zone."""

    phase: ZonePhase = ZonePhase.CLEAR
    since: float = 0.0  # when the current phase began
    reported: float = 0.0  # blocked share last reported
    peak: float = 0.0


def step(
    state: ExitState,
    blocked_fraction: float | None,
    now: float,
    params: BlockedExitParams,
    camera: str,
    zone: str,
) -> tuple[ExitState, list[Observation]]:
    """Advance one zone by one measurement (``None``: unknown, nothing changes)."""
    if blocked_fraction is None:
        return state, []
    blocked = blocked_fraction >= params.min_blocked_fraction

    def observe(phase: Phase, score: float) -> Observation:
        return Observation(
            camera,
            zone,
            Hazard.BLOCKED_EXIT,
            phase,
            now,
            round(score, 3),
            Severity.WARNING,
            {"blocked_fraction": round(blocked_fraction, 3)},
        )

    match state.phase:
        case ZonePhase.CLEAR:
            if blocked:
                return ExitState(ZonePhase.CANDIDATE, now), []
            return state, []
        case ZonePhase.CANDIDATE:
            if not blocked:
                return ExitState(), []
            if now - state.since >= params.dwell_s:
                opened = ExitState(ZonePhase.BLOCKED, now, blocked_fraction, blocked_fraction)
                return opened, [observe(Phase.START, blocked_fraction)]
            return state, []
        case ZonePhase.BLOCKED | ZonePhase.CLEARING if blocked:
            peak = max(state.peak, blocked_fraction)
            current = replace(state, phase=ZonePhase.BLOCKED, peak=peak)
            if state.phase is ZonePhase.CLEARING:
                current = replace(current, since=now)
            if abs(blocked_fraction - state.reported) >= params.update_step:
                current = replace(current, reported=blocked_fraction)
                return current, [observe(Phase.UPDATE, blocked_fraction)]
            return current, []
        case ZonePhase.BLOCKED:
            return replace(state, phase=ZonePhase.CLEARING, since=now), []
        case ZonePhase.CLEARING:
            if now - state.since >= params.clear_s:
                return ExitState(), [observe(Phase.END, state.peak)]
            return state, []
    raise AssertionError(f"unhandled phase {state.phase}")  # pragma: no cover
