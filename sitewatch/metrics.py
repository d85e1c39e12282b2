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
    ("sitewatch_camera_fps", "gauge", "fps", "Frames decoded per second (last few seconds)."),
    (
        "sitewatch_camera_pickup_age_ms",
        "gauge",
        "frame_age_ms",
        "Age of the last frame analysis took, when taken.",
    ),
)


ANALYSIS_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("sitewatch_camera_inference_ms", "gauge", "inference_ms", "Detector time per frame (ms)."),
    ("sitewatch_camera_inferred_total", "counter", "inferred", "Frames run through the detector."),
    ("sitewatch_camera_gated_total", "counter", "gated", "Frames skipped: nothing moved."),
    (
        "sitewatch_camera_analysed_frames_total",
        "counter",
        "analysed",
        "Frames whose detections and rules are done.",
    ),
    (
        "sitewatch_camera_frame_age_ms",
        "gauge",
        "result_age_ms",
        "Age of the last analysed frame when its detections and rules were done (ms).",
    ),
    (
        "sitewatch_camera_configured_fps",
        "gauge",
        "configured_fps",
        "Frames per second the camera is to be analysed at.",
    ),
    (
        "sitewatch_camera_achieved_fps",
        "gauge",
        "achieved_fps",
        "Frames per second analysed over the last 10 s.",
    ),
)
HAZARD_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("sitewatch_alerts_total", "counter", "total", "Alerts raised, by hazard."),
    ("sitewatch_alerts_open", "gauge", "open", "Alerts whose incident has not ended."),
)


def _labelled(table: Any, label: str, metrics: tuple[tuple[str, str, str, str], ...]) -> list[str]:
    """Metrics from ``{label value: {field: number}}`` (nothing when absent)."""
    if not isinstance(table, Mapping):
        return []
    lines: list[str] = []
    for name, kind, field, text in metrics:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for key, figures in sorted(table.items()):
            value = figures.get(field) if isinstance(figures, Mapping) else None
            if isinstance(value, int | float):
                lines.append(f'{name}{{{label}="{_escape(str(key))}"}} {value:g}')
    return lines


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
    lines += _labelled(health.get("camera_analysis"), "camera", ANALYSIS_METRICS)
    lines += _labelled(health.get("alerts_by_hazard"), "hazard", HAZARD_METRICS)
    stages = health.get("analysis_stage_cpu_s")
    if isinstance(stages, Mapping) and stages:
        name = "sitewatch_analysis_stage_cpu_seconds_total"
        lines += [f"# HELP {name} CPU seconds of each analysis stage.", f"# TYPE {name} counter"]
        for stage, seconds in sorted(stages.items()):
            lines.append(f'{name}{{stage="{_escape(str(stage))}"}} {float(seconds):g}')
    for key, value in sorted(health.items()):
        if isinstance(value, bool | int | float):
            lines += [f"# TYPE sitewatch_{key} gauge", f"sitewatch_{key} {float(value):g}"]
    return "\n".join(lines) + "\n"
