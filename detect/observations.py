"""What rules report: the start, progress and end of an incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.vocabulary import Hazard, Severity


class Phase(StrEnum):
    """Where an incident stands."""

    START = "start"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True, slots=True)
class Box:
    """A detection in frame pixels."""

    label: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's finding about one camera zone at one time."""

    camera: str
    zone: str
    hazard: Hazard
    phase: Phase
    time: float  # wall-clock seconds
    score: float  # 0..1, hazard-specific (share of the exit zone blocked, confidence...)
    severity: Severity = Severity.WARNING
    details: dict[str, float | int | str] = field(default_factory=dict)
    outline: tuple[tuple[int, int], ...] = ()  # the zone polygon in frame pixels
    boxes: tuple[Box, ...] = ()
