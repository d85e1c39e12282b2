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
