"""``make demo-fleet``'s entry point run briefly, all real: PostgreSQL, a central mosquitto,
three ``sitewatch run`` edges on the demo scene (plant-c behind its own mosquitto bridged to
the central one) and ``sitewatch hub``. An alert of the bridged edge reaches the hub's API by
MQTT, the central console is served, and leaving stops every process."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.demo_fleet import FleetDemoOptions, fleet_demo, free_port
from hub.local_postgres import PostgresUnavailableError
from tests.hub_env import wait_until

pytestmark = pytest.mark.integration


def test_an_alert_of_the_bridged_edge_reaches_the_hub(tmp_path: Path) -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed")
    options = FleetDemoOptions(tmp_path, free_port(), models=())  # the exit check only
    try:
        with fleet_demo(options) as demo:
            base = demo.console_url.removesuffix("/console/")
            headers = {"Authorization": f"Bearer {demo.tokens['Street office']}"}
            found: list[dict[str, Any]] = []

            def bridged_alert() -> bool:
                answer = httpx.get(f"{base}/api/alerts?site=plant-c", headers=headers)
                found[:] = answer.json() if answer.status_code == 200 else []
                return bool(found)

            arrived = wait_until(bridged_alert, 240, 1.0)
            logs = {p.name: p.read_text(errors="replace")[-2000:] for p in demo.logs.iterdir()}
            assert arrived, f"no plant-c alert at the hub: {logs}"
            alert = httpx.get(f"{base}/api/alerts/{found[0]['alert_id']}", headers=headers).json()
            assert alert["hazard"] == "blocked_exit" and alert["grid"] == "south"
            assert "mqtt" in {e["source"] for e in alert["events"]}  # through the bridge
            console = httpx.get(demo.console_url)
            assert console.status_code == 200 and 'src="app.js"' in console.text
            officer = {"Authorization": f"Bearer {demo.tokens['plant-a officer']}"}
            seen = httpx.get(f"{base}/api/alerts", headers=officer).json()
            assert {a["site"] for a in seen} <= {"plant-a"}
            processes = dict(demo.processes)
    except PostgresUnavailableError as error:
        pytest.skip(f"PostgreSQL cannot run here: {error}")
    assert set(processes) == {
        "rtsp-server",
        "mosquitto-central",
        "mosquitto-plant-c",
        "plant-a",
        "plant-b",
        "plant-c",
        "hub",
    }
    assert {name: p.poll() is not None for name, p in processes.items()} == dict.fromkeys(
        processes, True
    )
