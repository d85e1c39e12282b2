"""Alerts and the events that change them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Why an alert event was published."""

    NEW = "new"
    UPDATE = "update"
    END = "end"
    CLIP_READY = "clip_ready"
    STATE = "state"


@dataclass(frozen=True, slots=True)
class Evidence:
    """A stored file the API serves, with its digest."""

    path: str  # relative to the data directory
    sha256: str


@dataclass(frozen=True, slots=True)
class Alert:
    """One incident on one camera zone, from its start to its end."""

    alert_id: str
    camera: str
    zone: str
    hazard: str
    severity: str
    score: float
    peak_score: float
    started_at: float
    updated_at: float
    ended_at: float | None = None
    workflow_state: str = "open"
    snapshot: Evidence | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two incidents the same: camera, zone, hazard."""
        return self.camera, self.zone, self.hazard

    @property
    def active(self) -> bool:
        """True until the incident ended."""
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert before and after one event (``before`` is None for a new alert)."""

    type: EventType
    before: Alert | None
    after: Alert
