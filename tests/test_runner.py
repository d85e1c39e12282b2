"""`sitewatch run` as a process: clean shutdown, JSON logs, clear start-up failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.servers import free_port

pytestmark = pytest.mark.integration
SECRET = "runner-Secret-42"


def write_config(tmp_path: Path, api_port: int, broker_port: int, camera_port: int) -> Path:
    config = {
        "site": {"id": "runner"},
        "cameras": [
            {
                "name": "gate",
                "url": f"rtsp://admin:${{CAM_PASS}}@127.0.0.1:{camera_port}/stream",
                "zones": [
                    {"name": "exit", "kind": "exit", "points": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]}
                ],
            },
            {"name": "spare", "url": "rtsp://127.0.0.1:1/none", "enabled": False},
        ],
        "mqtt": {"host": "127.0.0.1", "port": broker_port},
        "storage": {"data_dir": str(tmp_path / "data")},
        "api": {"port": api_port},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sitewatch", "run", "--config", str(config), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CAM_PASS": SECRET},
        )


def wait_for_text(log: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def test_camera_down_json_logs_and_clean_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), free_port(), free_port())
    log = tmp_path / "run.log"
    process = start(config, log, "--log-format", "json")
    try:
        assert wait_for_text(log, "connection refused", timeout=20), log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = process.wait(timeout=15)
    assert code == 0
    assert time.monotonic() - began < 10.0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert any("gate: offline (connection refused" in m for m in messages), messages
    assert any("received SIGTERM" in m for m in messages)
    assert SECRET not in log.read_text()


def test_busy_api_port_is_a_clear_start_failure(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, port, free_port(), free_port())
        log = tmp_path / "run.log"
        code = start(config, log).wait(timeout=30)
    assert code == 1
    assert f"the API could not listen on 127.0.0.1:{port}" in log.read_text()


def test_invalid_config_exits_2_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("site: {id: x}\ncameras: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "sitewatch", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "cameras: List should have at least 1 item" in result.stderr


@pytest.mark.parametrize("trusted", [False, True], ids=["no-proxy", "behind-a-proxy"])
def test_failed_attempts_count_per_real_client_address(tmp_path: Path, trusted: bool) -> None:
    api_port = free_port()
    config = write_config(tmp_path, api_port, free_port(), free_port())
    document = yaml.safe_load(config.read_text())
    document["api"]["tokens"] = [{"name": "ops", "token": SECRET + "-token", "role": "viewer"}]
    if trusted:
        document["api"]["trusted_proxies"] = ["127.0.0.1"]
    config.write_text(yaml.safe_dump(document))
    process = start(config, tmp_path / "run.log")
    base = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "no API"
                time.sleep(0.2)
        bad = {"Authorization": "Bearer not-a-token-at-all"}
        codes = [
            httpx.get(f"{base}/api/alerts", headers={**bad, "X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(12)
        ]
        good = {"Authorization": f"Bearer {SECRET}-token", "X-Forwarded-For": "203.0.113.1"}
        assert httpx.get(f"{base}/api/alerts", headers=good).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    statuses = [response.status_code for response in codes]
    # behind a trusted proxy each forwarded address counts on its own; without one the header
    # is not believed: twelve guesses from one address
    assert statuses == ([401] * 12 if trusted else [401] * 10 + [429] * 2)
