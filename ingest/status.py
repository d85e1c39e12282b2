"""Camera health and counters as the rest of the system sees them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CameraState(StrEnum):
    """Lifecycle of a camera connection."""

    STARTING = "starting"
    ONLINE = "online"
    STALLED = "stalled"  # connected (or reachable) but no frame for a while
    OFFLINE = "offline"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A snapshot of one camera's health and counters."""

    camera: str
    state: CameraState
    since: float  # wall-clock time of the last state change
    last_error: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int = 0  # decoded
    frames_out: int = 0  # handed to analysis
    dropped: int = 0  # decoded but replaced by a newer frame before analysis took it
    reconnects: int = 0
    decode_errors: int = 0
    stale_frames: int = 0  # arrived more than stall_timeout_s late (a hung server): not used
    decode_ms: float = 0.0  # mean decode time per frame
    bitrate_kbps: float = 0.0  # over the last few seconds
    fps: float = 0.0  # frames decoded per second over the last few seconds
    frame_age_ms: float | None = None  # age of the newest frame handed to analysis, when taken
    warning: str | None = None  # a standing problem that does not stop the camera (a cut file)
