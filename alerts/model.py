"""Alerts and the events that change them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from core.vocabulary import CaseState, Hazard, Severity


class EventType(StrEnum):
    """Why an alert event was published."""

    NEW = "new"
    UPDATE = "update"
    END = "end"
    CLIP_READY = "clip_ready"
    STATE = "state"


class EvidenceKind(StrEnum):
    """What an evidence file shows."""

    SNAPSHOT = "snapshot"  # clean frame at the start
    SNAPSHOT_ANNOTATED = "snapshot_annotated"  # the same with zones and boxes drawn
    PEAK = "peak"  # clean frame at the highest score
    PEAK_ANNOTATED = "peak_annotated"
    CLIP = "clip"  # H.264 MP4, pre-roll to post-roll (long incidents in parts)
    RECTIFICATION = "rectification"  # photo an operator attached to the case (JPEG or PNG)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A stored file the API serves, with its digest."""

    path: str  # relative to the data directory
    sha256: str
    kind: EvidenceKind = EvidenceKind.SNAPSHOT
    part: int = 1
    removed_at: float | None = None  # set when retention deleted the file
    covers: tuple[float, float] | None = None  # clips: wall-clock span of the video

    @property
    def name(self) -> str:
        """The file name (unique per alert)."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Alert:
    """One incident on one camera zone, from its start to its end."""

    alert_id: str
    camera: str
    zone: str
    hazard: Hazard
    severity: Severity
    score: float
    peak_score: float
    started_at: float
    updated_at: float
    ended_at: float | None = None
    workflow_state: CaseState = CaseState.OPEN
    evidence: tuple[Evidence, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def snapshot(self) -> Evidence | None:
        """The clean snapshot taken when the incident started."""
        return self.find(EvidenceKind.SNAPSHOT)

    @property
    def clip(self) -> Evidence | None:
        """The latest finished clip part."""
        clips = [e for e in self.evidence if e.kind is EvidenceKind.CLIP]
        return max(clips, key=lambda e: e.part) if clips else None

    def find(self, kind: EvidenceKind) -> Evidence | None:
        """The evidence of one kind (the first part)."""
        return next((e for e in self.evidence if e.kind is kind), None)

    def with_evidence(self, *items: Evidence) -> Alert:
        """A copy with ``items`` added (replacing files of the same name)."""
        names = {item.name for item in items}
        kept = tuple(e for e in self.evidence if e.name not in names)
        return replace(self, evidence=kept + items)

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
