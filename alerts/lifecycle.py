"""Deduplication: observations from the rules become one alert per incident.

``decide`` is pure: given the open alert for the observation's camera+zone+hazard (if any), the
last ended one, and the observation, it says what changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from alerts.model import Alert, AlertChange, EventType
from detect.observations import Observation, Phase


def decide(
    current: Alert | None,
    last_ended: Alert | None,
    observation: Observation,
    cooldown_s: float,
    new_id: Callable[[], str],
) -> AlertChange | None:
    """The alert change an observation causes, or None when it changes nothing."""
    obs = observation
    if obs.phase is Phase.START:
        if current is not None:
            return _update(current, obs)
        if last_ended is not None and obs.time - (last_ended.ended_at or 0.0) < cooldown_s:
            reopened = replace(_touched(last_ended, obs), ended_at=None)
            return AlertChange(EventType.UPDATE, last_ended, reopened)
        alert = Alert(
            alert_id=new_id(),
            camera=obs.camera,
            zone=obs.zone,
            hazard=obs.hazard,
            severity=obs.severity,
            score=obs.score,
            peak_score=obs.score,
            started_at=obs.time,
            updated_at=obs.time,
            details=dict(obs.details),
        )
        return AlertChange(EventType.NEW, None, alert)
    if current is None:
        return None  # an update or end for an incident we never opened (e.g. after a restart)
    if obs.phase is Phase.UPDATE:
        return _update(current, obs)
    ended = replace(_touched(current, obs), ended_at=obs.time)
    return AlertChange(EventType.END, current, ended)


def _touched(alert: Alert, obs: Observation) -> Alert:
    return replace(
        alert,
        score=obs.score,
        peak_score=max(alert.peak_score, obs.score),
        severity=obs.severity,
        updated_at=obs.time,
        details={**alert.details, **obs.details},
    )


def _update(alert: Alert, obs: Observation) -> AlertChange:
    return AlertChange(EventType.UPDATE, alert, _touched(alert, obs))
