"""HTTP API on a real ledger: tokens, alerts, snapshots, errors with reasons."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from alerts.clip_recorder import ClipReady
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.model import Evidence
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from ingest.status import CameraState, CameraStatus
from sitewatch.api import create_app
from sitewatch.api.context import ApiDependencies

TOKEN = "operator-token-0123456789"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TestClient, str]:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sw", "a"), tmp_path, "http://testserver", {})
    observation = Observation("dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.START, 1e9, 0.8)
    change = service.handle(observation, np.full((60, 80, 3), 200, np.uint8))
    assert change is not None
    app = create_app(
        ApiDependencies.of_ledger(
            ledger,
            tmp_path,
            Topics("sw", "a"),
            "http://testserver",
            cameras=lambda: [CameraStatus("dock", CameraState.ONLINE, 1e9)],
            health=lambda: {"mqtt_connected": True},
            tokens={TOKEN: ("control-room", "operator")},
        )
    )
    return TestClient(app), change.after.alert_id


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_only_healthz_is_public(setup: tuple[TestClient, str]) -> None:
    client, _ = setup
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/api/health").status_code == 401
    health = client.get("/api/health", headers=auth()).json()
    assert health["status"] == "ok" and health["mqtt_connected"] is True


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
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers=auth())
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert 'sitewatch_camera_up{camera="dock",state="online"} 1' in lines
    assert 'sitewatch_camera_frames_decoded_total{camera="dock"} 0' in lines
    assert "sitewatch_mqtt_connected 1" in lines


def test_evidence_by_name_and_traversal(setup: tuple[TestClient, str]) -> None:
    client, alert_id = setup
    annotated = client.get(
        f"/api/alerts/{alert_id}/evidence/snapshot-annotated.jpg", headers=auth()
    )
    assert annotated.status_code == 200 and annotated.headers["content-type"] == "image/jpeg"
    for name in ["..%2F..%2Fledger.sqlite3", "ledger.sqlite3", "clip.mp4"]:
        response = client.get(f"/api/alerts/{alert_id}/evidence/{name}", headers=auth())
        assert response.status_code == 404, name


def test_clip_supports_byte_ranges(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sw", "a"), tmp_path, "http://testserver", {})
    change = service.handle(
        Observation("dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.START, 1e9, 0.8), None
    )
    assert change is not None
    clip = tmp_path / "evidence" / change.after.alert_id / "clip.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(bytes(range(256)) * 40)
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    ready = ClipReady(
        change.after.alert_id,
        1,
        Evidence(f"evidence/{clip.parent.name}/clip.mp4", digest),
        1e9,
        1e9 + 10,
        False,
    )
    service.clip_ready(ready)
    app = create_app(
        ApiDependencies.of_ledger(ledger, tmp_path, Topics("sw", "a"), "http://testserver")
    )
    response = TestClient(app).get(
        f"/api/alerts/{change.after.alert_id}/clip", headers={"Range": "bytes=100-199"}
    )
    assert response.status_code == 206
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == clip.read_bytes()[100:200]
