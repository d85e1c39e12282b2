"""Prometheus text: camera counters, per-camera analysis figures, alerts by hazard."""

from __future__ import annotations

from pathlib import Path

from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from ingest.status import CameraState, CameraStatus
from sitewatch import metrics


def test_render_labels_every_figure() -> None:
    cameras = [CameraStatus("dock", CameraState.ONLINE, 0.0, frames=250, fps=24.8)]
    health = {
        "outbox_pending": 3,
        "camera_analysis": {"dock": {"inference_ms": 11.5, "inferred": 40, "gated": 60}},
        "alerts_by_hazard": {"flame": {"total": 2, "open": 1}},
        "mqtt_last_error": None,
    }
    text = metrics.render(cameras, health)
    lines = set(text.splitlines())
    assert 'sitewatch_camera_fps{camera="dock"} 24.8' in lines
    assert 'sitewatch_camera_inference_ms{camera="dock"} 11.5' in lines
    assert 'sitewatch_camera_gated_total{camera="dock"} 60' in lines
    assert 'sitewatch_alerts_total{hazard="flame"} 2' in lines
    assert 'sitewatch_alerts_open{hazard="flame"} 1' in lines
    assert "sitewatch_outbox_pending 3" in lines
    assert "# TYPE sitewatch_camera_inferred_total counter" in lines


def test_ledger_counts_alerts_by_hazard(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sw", "a"), tmp_path, "http://t", {})
    for zone, end in (("exit-1", True), ("exit-2", False)):
        service.handle(Observation("dock", zone, Hazard.BLOCKED_EXIT, Phase.START, 1.0, 0.8), None)
        if end:
            service.handle(
                Observation("dock", zone, Hazard.BLOCKED_EXIT, Phase.END, 9.0, 0.8), None
            )
    assert ledger.hazard_counts() == {"blocked_exit": {"total": 2, "open": 1}}


def test_frame_age_is_to_the_result_and_rates_are_shown() -> None:
    """The frame age gauge is measured to the detections; the pickup age has its own name;
    each camera shows its configured and achieved rate and the stages their CPU."""
    cameras = [CameraStatus("dock", CameraState.ONLINE, 0.0, frame_age_ms=12.5)]
    health = {
        "camera_analysis": {
            "dock": {
                "analysed": 90,
                "result_age_ms": 640.0,
                "configured_fps": 2.0,
                "achieved_fps": 1.43,
            },
        },
        "analysis_overloaded": True,
        "analysis_stage_cpu_s": {"exit check": 1.25},
    }
    lines = set(metrics.render(cameras, health).splitlines())
    assert 'sitewatch_camera_frame_age_ms{camera="dock"} 640' in lines
    assert 'sitewatch_camera_pickup_age_ms{camera="dock"} 12.5' in lines
    assert 'sitewatch_camera_configured_fps{camera="dock"} 2' in lines
    assert 'sitewatch_camera_achieved_fps{camera="dock"} 1.43' in lines
    assert 'sitewatch_camera_analysed_frames_total{camera="dock"} 90' in lines
    assert "sitewatch_analysis_overloaded 1" in lines
    assert 'sitewatch_analysis_stage_cpu_seconds_total{stage="exit check"} 1.25' in lines
