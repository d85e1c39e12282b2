"""The API behind the console's new views, over HTTP: zones saved from the browser (checked
with the configuration's rules, version-checked, admins only, audited, kept in
``<data_dir>/zones/<camera>.yaml`` and merged at load), the clear-exit reference captured from
the latest frame, the live stream (boxes, zones, exit shares; one encode per frame for all
viewers), the shift handover, and the stable error codes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from alerts.ledger import Ledger
from alerts.service import AlertService
from core.config_files import ConfigError
from core.vocabulary import Hazard, ZoneKind
from detect.detections import Detections
from detect.observations import Observation, Phase
from detect.zones import ZoneShape
from ingest.frames import Frame
from ingest.status import CameraState, CameraStatus
from sitewatch.api import create_app
from sitewatch.api.context import ApiDependencies
from sitewatch.api.live_stream import BOUNDARY, LiveFeed
from sitewatch.config.loader import load_config
from sitewatch.config.site import SiteConfig
from sitewatch.config.zone_files import zone_file_path
from sitewatch.live_results import ExitShare, LatestResults, LiveResult
from sitewatch.zone_editor import ZoneEditor
from tests.api_site import TOKENS, TOPICS, bearer, serve

EXIT = {"name": "exit-1", "kind": "exit", "points": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.9]]}
SQUARE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]


def site_yaml(tmp: Path, extra: str = "") -> Path:
    path = tmp / "site.yaml"
    path.write_text(
        f"""
site: {{id: plant-a, name: 一号厂区, timezone: Asia/Shanghai}}
cameras:
  - name: dock
    url: rtsp://127.0.0.1:9/dock
    zones:
      - {{name: exit-1, kind: exit, points: [[0.6, 0.1], [0.9, 0.1], [0.9, 0.9]]}}
storage: {{data_dir: {tmp / "data"}}}
{extra}
"""
    )
    return path


class Frames:
    """A camera whose newest frame the test sets."""

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.peeks = 0

    def show(self, index: int, width: int = 640, height: int = 360) -> Frame:
        image = np.full((height, width, 3), 40 + index % 200, np.uint8)
        cv2.rectangle(image, (100, 100), (200, 200), (0, 0, 255), -1)
        now = time.time()
        self.frame = Frame("dock", image, index, time.monotonic(), now, None)
        return self.frame

    def __call__(self, camera: str) -> Frame | None:
        self.peeks += 1
        return self.frame if camera == "dock" else None


class Node:
    def __init__(self, tmp: Path) -> None:
        self.config: SiteConfig = load_config(site_yaml(tmp))
        self.config.storage.data_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.config.storage.data_dir / "ledger.sqlite3")
        self.alerts = AlertService(
            self.ledger, TOPICS, self.config.storage.data_dir, "http://testserver", {}
        )
        self.frames = Frames()
        self.results = LatestResults()
        self.editor = ZoneEditor(self.config, self.ledger)
        self.app = create_app(
            ApiDependencies.of_ledger(
                self.ledger,
                self.config.storage.data_dir,
                TOPICS,
                "http://testserver",
                cameras=lambda: [CameraStatus("dock", CameraState.ONLINE, time.time())],
                latest_frame=lambda c: None if self.frames(c) is None else self.frames.frame.image,  # type: ignore[union-attr]
                tokens=TOKENS,
                live=LiveFeed(self.frames, self.results),
                zones=self.editor,
                timezone=self.config.site.timezone,
                site_name=self.config.site.name,
            )
        )
        self.client = TestClient(self.app)

    def get_zones(self) -> dict[str, Any]:
        answer = self.client.get("/api/cameras/dock/zones", headers=bearer("viewer"))
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def put(self, zones: list[dict[str, Any]], version: int, role: str = "admin") -> httpx.Response:
        body = {"version": version, "zones": zones}
        answer: httpx.Response = self.client.put(
            "/api/cameras/dock/zones", json=body, headers=bearer(role)
        )
        return answer


# --------------------------------------------------------------------------- zones


def test_zones_saved_from_the_console_are_versioned_audited_and_merged_at_load(
    tmp_path: Path,
) -> None:
    node = Node(tmp_path)
    first = node.get_zones()
    assert first["version"] == 0 and first["source"] == "config"
    assert [z["name"] for z in first["zones"]] == ["exit-1"]
    assert first["kinds"] == ["exit", "ignore"]  # no model: no hard-hat or flame zones
    saved = node.put([EXIT, {"name": "aisle", "kind": "ignore", "points": SQUARE}], 0)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1 and saved.json()["updated_by"] == "admin-holder"
    stored = yaml.safe_load(zone_file_path(node.config.storage.data_dir, "dock").read_text())
    assert stored["version"] == 1 and [z["name"] for z in stored["zones"]] == ["exit-1", "aisle"]
    entries = node.client.get("/api/audit?limit=50", headers=bearer("auditor")).json()
    saves = [e for e in entries if e["action"] == "zones.saved"]
    assert len(saves) == 1 and saves[0]["actor"] == "admin-holder"
    detail = saves[0]["detail"]
    assert [z["name"] for z in detail["before"]] == ["exit-1"]
    assert [z["name"] for z in detail["after"]] == ["exit-1", "aisle"]
    # The next load (sitewatch run, check-config) takes the saved zones over the YAML's.
    again = load_config(tmp_path / "site.yaml")
    assert [z.name for z in again.cameras[0].zones] == ["exit-1", "aisle"]
    assert ZoneEditor(again, node.ledger).current("dock").version == 1


@pytest.mark.parametrize(
    ("zones", "code", "params"),
    [
        ([{**EXIT, "points": [[0.1, 0.1], [0.5, 0.5]]}], "zone_too_few_points", {"count": 2}),
        (
            [{**EXIT, "points": [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]}],
            "zone_self_intersecting",
            {"first": 0, "second": 2},
        ),
        ([{**EXIT, "points": [[0.1, 0.1], [1.3, 0.1], [0.5, 0.5]]}], "zone_outside_frame", {}),
        ([{**EXIT, "kind": "hardhat_required"}], "zone_kind_unusable", {"why": "no_model"}),
        ([EXIT, {**EXIT, "kind": "ignore"}], "zone_name_duplicate", {}),
        ([{**EXIT, "name": "Exit 1"}], "zone_name_invalid", {}),
        ([{**EXIT, "obstacle_classes": ["pallet"]}], "zone_obstacle_unknown", {"class": "pallet"}),
        ([{**EXIT, "kind": "ignore", "obstacle_classes": ["x"]}], "zone_obstacles_not_exit", {}),
    ],
)
def test_a_bad_zone_is_refused_with_its_code_and_nothing_is_saved(
    tmp_path: Path, zones: list[dict[str, Any]], code: str, params: dict[str, Any]
) -> None:
    node = Node(tmp_path)
    answer = node.put(zones, 0)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == code, body
    assert body["params"]["zone"] in {z["name"] for z in zones}
    assert params.items() <= body["params"].items(), body
    assert not zone_file_path(node.config.storage.data_dir, "dock").exists()
    assert node.get_zones()["version"] == 0


def test_the_second_of_two_admins_saving_the_same_version_gets_409(tmp_path: Path) -> None:
    node = Node(tmp_path)
    mine = node.put([EXIT], 0)
    theirs = node.put([EXIT, {"name": "aisle", "kind": "ignore", "points": SQUARE}], 0)
    assert mine.status_code == 200
    assert theirs.status_code == 409 and theirs.json()["code"] == "zones_version_conflict"
    assert theirs.json()["params"] == {"camera": "dock", "current": 1}
    assert [z["name"] for z in node.get_zones()["zones"]] == ["exit-1"]  # the first stays


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_only_admins_change_zones(tmp_path: Path, role: str) -> None:
    node = Node(tmp_path)
    answer = node.put([EXIT], 0, role)
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert answer.json()["params"] == {"role": role}
    refused = node.client.post("/api/cameras/dock/reference", headers=bearer(role))
    assert refused.status_code == 403


def test_a_hand_edited_zone_file_that_breaks_a_rule_stops_the_load(tmp_path: Path) -> None:
    node = Node(tmp_path)
    assert node.put([EXIT], 0).status_code == 200
    path = zone_file_path(node.config.storage.data_dir, "dock")
    path.write_text(path.read_text().replace("exit-1", "Bad Name"))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "site.yaml")
    assert caught.value.source == path
    assert "zones[0].name" in str(caught.value)


def test_the_clear_exit_reference_is_captured_from_the_latest_frame(tmp_path: Path) -> None:
    node = Node(tmp_path)
    none_yet = node.client.post("/api/cameras/dock/reference", headers=bearer("admin"))
    assert none_yet.status_code == 409 and none_yet.json()["code"] == "reference_no_frame"
    node.frames.show(7)
    answer = node.client.post("/api/cameras/dock/reference", headers=bearer("admin"))
    assert answer.status_code == 200, answer.text
    picture = node.client.get("/api/cameras/dock/reference", headers=bearer("viewer"))
    assert picture.status_code == 200
    stored = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
    assert stored is not None and stored.shape == (360, 640, 3)
    assert node.get_zones()["reference_at"] == pytest.approx(answer.json()["reference_at"])
    entries = node.client.get("/api/audit?limit=50", headers=bearer("auditor")).json()
    assert [e["actor"] for e in entries if e["action"] == "reference.captured"] == ["admin-holder"]


# --------------------------------------------------------------------------- live view


def read_parts(response: httpx.Response, wanted: int) -> list[tuple[dict[str, Any], bytes]]:
    """The first ``wanted`` parts of a multipart/x-mixed-replace stream."""
    buffer = b""
    parts: list[tuple[dict[str, Any], bytes]] = []
    for chunk in response.iter_bytes():
        buffer += chunk
        while b"\r\n\r\n" in buffer:
            head, rest = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("ascii").split("\r\n")
            assert lines[0] == f"--{BOUNDARY}", lines
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers["Content-Length"])
            if len(rest) < length + 2:
                break
            parts.append((json.loads(headers["X-Overlay"]), rest[:length]))
            buffer = rest[length + 2 :]
            if len(parts) == wanted:
                return parts
    raise AssertionError(f"the stream ended after {len(parts)} parts")


def test_the_live_stream_carries_the_picture_and_what_the_rules_saw(tmp_path: Path) -> None:
    node = Node(tmp_path)
    assert node.frames.peeks == 0  # nobody watches: nothing is peeked, converted or encoded
    frame = node.frames.show(1, 1280, 720)
    found = Detections(
        np.array([[320, 180, 640, 540]], np.float32),
        np.array([0.87], np.float32),
        np.array([0], np.int32),
        ("fire",),
    )
    zone = ZoneShape("exit-1", ZoneKind.EXIT, ((0.6, 0.1), (0.9, 0.1), (0.9, 0.9)))
    node.results.put(
        LiveResult(
            "dock",
            frame.wall_time,
            1280,
            720,
            found,
            frame.wall_time,
            [zone],
            (ExitShare("exit-1", 0.42, "compared"),),
        )
    )
    with serve(node.app) as base:
        query = "camera=dock&fps=10&width=640"
        with httpx.stream("GET", f"{base}/api/live?{query}", headers=bearer("viewer")) as live:
            assert live.status_code == 200
            assert live.headers["content-type"].startswith("multipart/x-mixed-replace")
            ((overlay, jpeg),) = read_parts(live, 1)
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (360, 640, 3)  # scaled to the width asked for
    assert overlay["camera"] == "dock" and overlay["state"] == "online"
    assert overlay["frame_index"] == 1 and overlay["width"] == 640
    assert overlay["detections"] == [
        {"class": "fire", "score": 0.87, "box": [0.25, 0.25, 0.5, 0.75]}
    ]
    assert overlay["zones"] == [
        {"name": "exit-1", "kind": "exit", "points": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.9]]}
    ]
    assert overlay["exits"] == [{"zone": "exit-1", "blocked_fraction": 0.42, "reason": "compared"}]


def test_two_viewers_of_one_frame_share_one_encode(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.frames.show(5)
    with serve(node.app) as base:
        url = f"{base}/api/live?camera=dock&fps=10&width=480"
        with httpx.stream("GET", url, headers=bearer("viewer")) as one:
            first = read_parts(one, 1)
            with httpx.stream("GET", url, headers=bearer("operator")) as two:
                second = read_parts(two, 1)
    assert first[0][1] == second[0][1]
    assert node.app.state.context.jpegs.encoded == 1
    assert node.app.state.context.jpegs.shared >= 1


def test_the_live_stream_refuses_unknown_cameras_and_asks_for_a_token(tmp_path: Path) -> None:
    node = Node(tmp_path)
    unknown = node.client.get("/api/live?camera=nope", headers=bearer("viewer"))
    assert unknown.status_code == 404 and unknown.json()["code"] == "camera_not_found"
    assert unknown.json()["params"] == {"camera": "nope"}
    anonymous = node.client.get("/api/live?camera=dock")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "token_missing"
    too_fast = node.client.get("/api/live?camera=dock&fps=60", headers=bearer("viewer"))
    assert too_fast.status_code == 422 and too_fast.json()["params"] == {"fields": ["fps"]}


# --------------------------------------------------------------------------- duty desk


def test_the_handover_lists_what_came_in_what_is_open_and_who_did_what(tmp_path: Path) -> None:
    node = Node(tmp_path)
    now = time.time()
    frame = np.full((48, 64, 3), 90, np.uint8)
    old = node.alerts.handle(
        Observation("dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.START, now - 20 * 3600, 0.8),
        frame,
    )
    new = node.alerts.handle(
        Observation("dock", "frame", Hazard.FLAME, Phase.START, now - 600, 0.9), frame
    )
    assert old is not None and new is not None
    acknowledged = node.client.post(
        f"/api/alerts/{new.after.alert_id}/case/acknowledge", json={}, headers=bearer("operator")
    )
    assert acknowledged.status_code == 200
    shift = node.client.get("/api/handover", headers=bearer("viewer"))  # the last 12 hours
    assert shift.status_code == 200, shift.text
    doc = shift.json()
    assert [a["alert_id"] for a in doc["came_in"]] == [new.after.alert_id]
    assert {a["alert_id"] for a in doc["still_open"]} == {old.after.alert_id, new.after.alert_id}
    assert [(a["actor"], a["action"], a["from"], a["to"]) for a in doc["actions"]] == [
        ("operator-holder", "acknowledge", "open", "acknowledged")
    ]
    empty = node.client.get(
        "/api/handover?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        headers=bearer("viewer"),
    )
    assert empty.status_code == 422 and empty.json()["code"] == "shift_empty"


# --------------------------------------------------------------------------- codes, catalogues


def test_refusals_carry_a_stable_code_next_to_the_english_detail(tmp_path: Path) -> None:
    node = Node(tmp_path)
    client = node.client
    unknown = client.get("/api/me", headers={"Authorization": "Bearer nope"})
    assert unknown.json() == {"detail": "unknown token", "code": "token_unknown"}
    missing = client.get("/api/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=bearer("viewer"))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    no_route = client.get("/api/nothing-here", headers=bearer("viewer"))
    assert no_route.status_code == 404 and no_route.json()["code"] == "not_found"
    frame = client.get("/api/cameras/dock/frame", headers=bearer("viewer"))
    assert frame.json()["code"] == "frame_not_ready" and frame.json()["params"] == {
        "camera": "dock"
    }


def test_health_names_the_site_and_its_time_zone(tmp_path: Path) -> None:
    health = Node(tmp_path).client.get("/api/health", headers=bearer("viewer")).json()
    assert health["timezone"] == "Asia/Shanghai" and health["site_name"] == "一号厂区"


def test_an_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    path = site_yaml(tmp_path).read_text().replace("Asia/Shanghai", "asia/shanghai")
    (tmp_path / "bad.yaml").write_text(path)
    with pytest.raises(ConfigError, match="did you mean 'Asia/Shanghai'"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_catalogues_are_served_to_the_console(tmp_path: Path, language: str) -> None:
    client = Node(tmp_path).client
    answer = client.get(f"/console/i18n/{language}.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert "hazard" in answer.json()
    assert client.get("/console/i18n/..%2Fapp.js").status_code == 404
