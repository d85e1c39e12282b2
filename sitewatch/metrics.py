"""Prometheus text exposition of camera counters and delivery health (no client library needed)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ingest.status import CameraState, CameraStatus

CAMERA_METRICS: tuple[tuple[str, str, str, str], ...] = (
    # (metric name, type, CameraStatus field, help)
    ("sitewatch_camera_frames_decoded_total", "counter", "frames", "Frames decoded."),
    ("sitewatch_camera_frames_analysed_total", "counter", "frames_out", "Frames analysed."),
    ("sitewatch_camera_frames_dropped_total", "counter", "dropped", "Frames replaced unseen."),
    ("sitewatch_camera_reconnects_total", "counter", "reconnects", "Reconnection attempts."),
    ("sitewatch_camera_decode_errors_total", "counter", "decode_errors", "Undecodable packets."),
    ("sitewatch_camera_decode_ms", "gauge", "decode_ms", "Mean decode time per frame (ms)."),
    ("sitewatch_camera_bitrate_kbps", "gauge", "bitrate_kbps", "Incoming bitrate (kbit/s)."),
    ("sitewatch_camera_frame_age_ms", "gauge", "frame_age_ms", "Age of the last analysed frame."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(cameras: Iterable[CameraStatus], health: Mapping[str, Any]) -> str:
    """The text format Prometheus scrapes."""
    statuses = list(cameras)
    lines: list[str] = [
        "# HELP sitewatch_camera_up 1 when the camera delivers frames.",
        "# TYPE sitewatch_camera_up gauge",
    ]
    for status in statuses:
        up = 1 if status.state is CameraState.ONLINE else 0
        labels = f'camera="{_escape(status.camera)}",state="{status.state.value}"'
        lines.append(f"sitewatch_camera_up{{{labels}}} {up}")
    for name, kind, field, text in CAMERA_METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for status in statuses:
            value = getattr(status, field)
            if value is not None:
                lines.append(f'{name}{{camera="{_escape(status.camera)}"}} {value}')
    for key, value in sorted(health.items()):
        if isinstance(value, bool | int | float):
            lines += [f"# TYPE sitewatch_{key} gauge", f"sitewatch_{key} {float(value):g}"]
    return "\n".join(lines) + "\n"
