"""``sitewatch calibrate``: the reference of a clear exit, from a camera or a picture."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alerts.contract import Topics
from alerts.ledger import Ledger
from detect.references import ReferenceStore
from ingest.status import CameraState, CameraStatus
from sitewatch.api import create_app
from sitewatch.api.context import ApiDependencies
from sitewatch.cli.app import app
from tests.media import h264_clip
from tests.servers import rtsp_server

EXIT: dict[str, object] = {
    "name": "exit-1",
    "kind": "exit",
    "points": [[0.4, 0.5], [0.6, 0.5], [0.6, 0.9]],
}


def write_config(tmp_path: Path, url: str, zones: list[dict[str, object]]) -> Path:
    config = {
        "site": {"id": "plant"},
        "cameras": [{"name": "dock", "url": url, "zones": zones}],
        "storage": {"data_dir": str(tmp_path / "data")},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_calibrate_from_a_picture_stores_and_replaces_the_reference(tmp_path: Path) -> None:
    config = write_config(tmp_path, "rtsp://127.0.0.1:9/none", [EXIT])
    picture = tmp_path / "clear.png"
    cv2.imwrite(str(picture), np.full((90, 160, 3), 120, np.uint8))
    runner = CliRunner()

    first = runner.invoke(
        app, ["calibrate", "-c", str(config), "--camera", "dock", "--image", str(picture)]
    )
    assert first.exit_code == 0, first.output
    store = ReferenceStore(tmp_path / "data" / "references")
    stored = store.load("dock")
    assert stored is not None and stored.image.shape == (90, 160, 3)
    preview = tmp_path / "data" / "references" / "dock-zones.jpg"
    assert preview.is_file()
    assert "reference of dock (160x90) stored" in first.output

    cv2.imwrite(str(picture), np.full((90, 160, 3), 30, np.uint8))
    second = runner.invoke(
        app, ["calibrate", "-c", str(config), "--camera", "dock", "--image", str(picture)]
    )
    assert second.exit_code == 0, second.output
    replaced = store.load("dock")
    assert replaced is not None and int(replaced.image.mean()) == 30
    assert replaced.captured_at >= stored.captured_at


@pytest.mark.parametrize(
    ("camera", "zones", "message"),
    [
        ("gate", [EXIT], "no camera named 'gate'"),
        ("dock", [], "camera dock has no exit zone"),
    ],
)
def test_calibrate_refuses_what_it_cannot_do(
    tmp_path: Path, camera: str, zones: list[dict[str, object]], message: str
) -> None:
    config = write_config(tmp_path, "rtsp://127.0.0.1:9/none", zones)
    result = CliRunner().invoke(app, ["calibrate", "-c", str(config), "--camera", camera])
    assert result.exit_code == 2
    assert message in result.output


def test_calibrate_names_an_unreachable_camera(tmp_path: Path) -> None:
    config = write_config(tmp_path, "rtsp://127.0.0.1:9/none", [EXIT])
    result = CliRunner().invoke(
        app, ["calibrate", "-c", str(config), "--camera", "dock", "--timeout", "3"]
    )
    assert result.exit_code == 2
    assert "camera dock: no frame within 3 s" in result.output


@pytest.mark.integration
def test_calibrate_grabs_a_frame_from_an_rtsp_camera(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    h264_clip(media, name="clear.mp4", width=320, height=180, seconds=3.0)
    with rtsp_server(media) as rtsp:
        config = write_config(tmp_path, rtsp.url("clear.mp4"), [EXIT])
        result = CliRunner().invoke(app, ["calibrate", "-c", str(config), "--camera", "dock"])
    assert result.exit_code == 0, result.output
    stored = ReferenceStore(tmp_path / "data" / "references").load("dock")
    assert stored is not None and stored.image.shape == (180, 320, 3)


def test_api_shows_the_reference_with_its_time(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path / "references")
    store.save("dock", np.full((20, 30, 3), 90, np.uint8), captured_at=1_800_000_000.0)
    cameras = [
        CameraStatus("dock", CameraState.ONLINE, 0.0),
        CameraStatus("yard", CameraState.ONLINE, 0.0),
    ]
    ledger = Ledger(tmp_path / "l.sqlite3")
    api = create_app(
        ApiDependencies.of_ledger(
            ledger, tmp_path, Topics("sw", "a"), "http://t", cameras=lambda: cameras
        )
    )
    client = TestClient(api)
    response = client.get("/api/cameras/dock/reference")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-captured-at"] == "2027-01-15T08:00:00+00:00"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (20, 30, 3)
    missing = client.get("/api/cameras/yard/reference")
    assert missing.status_code == 404 and "run sitewatch calibrate" in missing.json()["detail"]
    unknown = client.get("/api/cameras/..%2Fsecrets/reference")
    assert unknown.status_code == 404
    assert json.loads(client.get("/api/cameras/gate/reference").text)["detail"] == (
        "no camera named 'gate'"
    )
