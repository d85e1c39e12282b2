"""Camera health as the rest of the system sees it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CameraState(StrEnum):
    """Lifecycle of a camera connection."""

    STARTING = "starting"
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A snapshot of one camera's health."""

    camera: str
    state: CameraState
    since: float  # wall-clock time of the last state change
    last_error: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int = 0
    reconnects: int = 0
    dropped: int = 0
