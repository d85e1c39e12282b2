"""The words of the domain, defined once: hazards, severities, zone kinds, case states and the
detector class names the rules read. Config, rules, alerts, API and console all use these.

Class names: ``FIRE`` and ``SMOKE`` (open flames, smoke), ``HELMET`` (a head wearing a hard hat)
and ``HEAD`` (a bare head) come from our hazard model (``models/hazards.md``); ``PERSON`` (a whole
person, seen from any side) from a person finder such as the COCO YOLOX model
(``models/persons.md``).
"""

from __future__ import annotations

from enum import StrEnum


class Hazard(StrEnum):
    """The three hazards sitewatch watches for."""

    BLOCKED_EXIT = "blocked_exit"
    FLAME = "flame"
    MISSING_HARDHAT = "missing_hardhat"


class Severity(StrEnum):
    """How urgent an incident is."""

    WARNING = "warning"
    CRITICAL = "critical"


class ZoneKind(StrEnum):
    """What a zone means to the rules."""

    EXIT = "exit"
    HARDHAT_REQUIRED = "hardhat_required"
    FLAME_ALLOWED = "flame_allowed"
    IGNORE = "ignore"


WHOLE_FRAME = "frame"
"""The zone name of incidents not tied to a drawn zone (flames anywhere, bare heads on a camera
without hardhat_required zones): the camera's whole picture."""


class CaseState(StrEnum):
    """Where a case stands (stored as the alert's ``workflow_state``)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    RECTIFIED = "rectified"
    CLOSED = "closed"
    FALSE_POSITIVE = "false_positive"


FIRE = "fire"  # open flames
SMOKE = "smoke"
HELMET = "helmet"  # a head wearing a hard hat
HEAD = "head"  # a bare head
PERSON = "person"  # a whole person (box from head to feet, or as much as is in view)
