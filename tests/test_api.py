"""HTTP API on a real ledger: tokens, alerts, snapshots, errors with reasons."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.service import AlertService
from detect.observations import Hazard, Observation, Phase
from ingest.status import CameraState, CameraStatus
from sitewatch.api import create_app

TOKEN = "operator-token-0123456789"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, str]:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sw", "a"), tmp_path, "http://testserver", {})
    observation = Observation("dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.START, 1e9, 0.8)
    change = service.handle(observation, np.full((60, 80, 3), 200, np.uint8))
    assert change is not None
    app = create_app(
        ledger,
        tmp_path,
        "a",
        "http://testserver",
        lambda: [CameraStatus("dock", CameraState.ONLINE, 1e9)],
        lambda: {"mqtt_connected": True},
        {TOKEN: ("control-room", "operator")},
    )
    return TestClient(app), change.after.alert_id


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_health_is_public(setup: tuple[TestClient, str]) -> None:
    client, _ = setup
    assert client.get("/api/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "missing bearer token"), ({"Authorization": "Bearer nope"}, "unknown token")],
)
def test_alerts_need_a_token(
    setup: tuple[TestClient, str], headers: dict[str, str], reason: str
) -> None:
    client, _ = setup
    response = client.get("/api/alerts", headers=headers)
    assert response.status_code == 401
    assert reason in response.json()["detail"]


def test_alert_list_detail_and_snapshot(setup: tuple[TestClient, str]) -> None:
    client, alert_id = setup
    listed = client.get("/api/alerts", headers=auth()).json()
    assert [a["alert_id"] for a in listed] == [alert_id]
    detail = client.get(f"/api/alerts/{alert_id}", headers=auth()).json()
    assert [e["type"] for e in detail["events"]] == ["new"]
    snapshot = client.get(f"/api/alerts/{alert_id}/snapshot", headers=auth())
    assert snapshot.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(snapshot.content).hexdigest() == detail["snapshot"]["sha256"]


def test_unknown_alert_is_404_with_reason(setup: tuple[TestClient, str]) -> None:
    client, _ = setup
    response = client.get("/api/alerts/01J0000000000000000000000X", headers=auth())
    assert response.status_code == 404
    assert "no alert with id" in response.json()["detail"]


def test_bad_limit_is_422(setup: tuple[TestClient, str]) -> None:
    client, _ = setup
    assert client.get("/api/alerts?limit=0", headers=auth()).status_code == 422


def test_cameras(setup: tuple[TestClient, str]) -> None:
    client, _ = setup
    cameras = client.get("/api/cameras", headers=auth()).json()
    assert cameras[0]["camera"] == "dock" and cameras[0]["state"] == "online"


def test_metrics_in_prometheus_text(setup: tuple[TestClient, str]) -> None:
    client, _ = setup
    response = client.get("/metrics")
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert 'sitewatch_camera_up{camera="dock",state="online"} 1' in lines
    assert 'sitewatch_camera_frames_decoded_total{camera="dock"} 0' in lines
    assert "sitewatch_mqtt_connected 1" in lines
