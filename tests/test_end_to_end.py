"""The walking skeleton end to end: generated H.264 scene -> real RTSP server -> `sitewatch run`
-> real mosquitto -> a subscriber receives exactly one blocked-exit alert."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from alerts.contract import load_schema
from sitewatch.demo.scene import EXIT_ZONE, SceneSpec, render_scene
from tests.browser import launch, wait_until_playing
from tests.servers import BrokerInfo, free_port, mosquitto, rtsp_server

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration
CAMERA_PASSWORD = "e2e-Secret-771"
SPEC = SceneSpec(width=640, height=360, fps=10, duration_s=40.0, obstacle_at_s=4.0, seed=3)


@dataclass
class Inbox:
    """Messages a subscriber received, by topic."""

    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, topic: str, payload: bytes, retain: bool) -> None:
        with self.arrived:
            self.messages.append((topic, payload, retain))
            self.arrived.notify_all()

    def of_type(self, kind: str) -> list[Any]:
        return [event for event in self.alerts() if event["type"] == kind]

    def alerts(self) -> list[dict[str, object]]:
        with self.arrived:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/alerts")]

    def wait_for(self, predicate: Callable[[], object], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
        return True


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("media")
    render_scene(directory / "scene.mp4", SPEC)
    return directory


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerInfo]:
    with mosquitto(tmp_path / "mosquitto") as info:
        yield info


def subscribe(broker: BrokerInfo, topic: str) -> tuple[mqtt.Client, Inbox]:
    inbox = Inbox()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="e2e-platform")
    client.on_message = lambda _c, _u, m: inbox.add(m.topic, bytes(m.payload), bool(m.retain))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client, inbox


def write_config(tmp_path: Path, rtsp_url: str, broker: BrokerInfo, api_port: int) -> Path:
    config = {
        "site": {"id": "e2e", "name": "End-to-end test site"},
        "cameras": [
            {
                "name": "aisle-3",
                "url": rtsp_url,
                "record_url": rtsp_url,  # clips come from a second, packets-only session
                "detect_fps": 2,
                "zones": [{"name": "fire-exit", "kind": "exit", "points": list(EXIT_ZONE)}],
            }
        ],
        "models": [{"name": "hazards", "path": str(ROOT / "models" / "hazards.onnx")}],
        "rules": {"blocked_exit": {"check_interval_s": 0.5, "dwell_s": 3, "clear_s": 3}},
        "clips": {"pre_roll_s": 5, "post_roll_s": 10, "max_clip_s": 10},
        "mqtt": {"host": broker.host, "port": broker.port, "topic_prefix": "sitewatch"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "api": {"host": "127.0.0.1", "port": api_port},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_one_blocked_exit_alert_reaches_the_platform(
    tmp_path: Path, media: Path, broker: BrokerInfo
) -> None:
    client, inbox = subscribe(broker, "sitewatch/e2e/#")
    api_port = free_port()
    with rtsp_server(media) as rtsp:
        url = rtsp.url("scene.mp4").replace("rtsp://", "rtsp://viewer:${CAMERA_PASSWORD}@")
        config = write_config(tmp_path, url, broker, api_port)
        log_path = tmp_path / "sitewatch.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "sitewatch", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "CAMERA_PASSWORD": CAMERA_PASSWORD},
            )
            try:
                got_alert = inbox.wait_for(inbox.alerts, timeout=60)
                assert got_alert, "no alert within 60 s:\n" + log_path.read_text()
                clip_ready = inbox.wait_for(lambda: inbox.of_type("clip_ready"), timeout=40)
                assert clip_ready, "no clip within 40 s:\n" + log_path.read_text()
                snapshot_check = fetch(inbox.alerts()[0]["after"], "snapshot")
                clip_event = inbox.of_type("clip_ready")[0]
                clip_path = tmp_path / "clip.mp4"
                clip_check = fetch(clip_event["after"], "clip", clip_path)
                played = play_in_chromium(clip_event["after"]["clip"]["url"], tmp_path)
                health_url = f"http://127.0.0.1:{api_port}/api/health"
                with urllib.request.urlopen(health_url, timeout=5) as response:
                    health = json.loads(response.read())
            finally:
                process.send_signal(signal.SIGTERM)
                stopped_at = time.monotonic()
                code = process.wait(timeout=15)
                stop_seconds = time.monotonic() - stopped_at
    client.loop_stop()
    logs = log_path.read_text()

    # The detector ran on the live frames (motion-gated) beside the exit comparison.
    assert health["detector_hazards_frames"] > 0, health
    assert "detector_hazards_ms_per_frame" in health
    news = [a for a in inbox.alerts() if a["type"] == "new" and hazard_of(a) == "blocked_exit"]
    assert len(news) == 1, inbox.alerts()
    event = news[0]
    jsonschema.validate(event, load_schema())
    after = event["after"]
    assert isinstance(after, dict)
    assert (after["hazard"], after["camera"], after["zone"]) == (
        "blocked_exit",
        "aisle-3",
        "fire-exit",
    )
    assert after["score"] >= 0.35
    assert snapshot_check == after["snapshot"]["sha256"]

    assert code == 0, logs
    assert stop_seconds < 10.0
    statuses = [p for t, p, _ in inbox.messages if t == "sitewatch/e2e/status"]
    assert statuses[0] == b"online" and statuses[-1] == b"offline"
    for topic in ("cameras/aisle-3/status", "cameras/aisle-3/record/status"):
        camera_status = [p for t, p, _ in inbox.messages if t == f"sitewatch/e2e/{topic}"]
        assert any(json.loads(p)["state"] == "online" for p in camera_status), topic
    jsonschema.validate(clip_event, load_schema())
    clip = clip_event["after"]["clip"]
    assert clip_check == clip["sha256"]
    with av.open(str(clip_path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        first = next(container.decode(video=0))
    assert first.key_frame
    alert_start = datetime.fromisoformat(after["started_at"])
    clip_start = datetime.fromisoformat(clip["started_at"])
    assert timedelta(0) <= alert_start - clip_start <= timedelta(seconds=5 + 1.1)  # + one GOP
    assert played["readyState"] >= 3 and played["currentTime"] > 0.5, played

    assert CAMERA_PASSWORD not in logs, "credentials leaked into the log"
    assert "rtsp://***:***@" in logs


def hazard_of(event: dict[str, object]) -> object:
    """The hazard of an alert event."""
    after = event["after"]
    return after.get("hazard") if isinstance(after, dict) else None


def fetch(alert: Any, what: str, keep: Path | None = None) -> str:
    """Download the snapshot or clip an alert points at; returns its SHA-256."""
    with urllib.request.urlopen(alert[what]["url"], timeout=5) as response:
        expected = "image/jpeg" if what == "snapshot" else "video/mp4"
        assert response.headers["content-type"] == expected
        data = response.read()
    if keep is not None:
        keep.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def play_in_chromium(url: str, artifacts: Path) -> dict[str, Any]:
    """Play a clip in Debian's headless Chromium; returns the video element's state."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = launch(driver)
        try:
            page = browser.new_page()
            page.set_content(f'<video id="v" src="{url}" muted autoplay controls width="640">')
            state = wait_until_playing(page, "v", past_s=0.5)
            page.screenshot(path=str(artifacts / "clip-in-chromium.png"))
        finally:
            browser.close()
    return state
