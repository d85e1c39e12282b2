"""The fleet for hub tests, all real: PostgreSQL clusters, mosquitto brokers (an edge broker
bridged to a central one), edge nodes (ledger, alert service, case workflow, MQTT publisher,
the HTTP API on a real port) and ``sitewatch hub`` processes (plain helpers, not fixtures)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from alerts.cases import CaseService
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.model import AlertChange
from alerts.mqtt_publisher import BrokerSettings, MqttPublisher
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from hub.local_postgres import LocalPostgres, PostgresUnavailableError, local_postgres
from sitewatch.api import api_server, create_app
from sitewatch.api.context import ApiDependencies
from sitewatch.demo.rtsp import free_port
from tests.servers import BrokerInfo, mosquitto_binary, mosquitto_config

HOST = "127.0.0.1"
PREFIX = "sw"
FRAME = np.full((48, 64, 3), 120, np.uint8)
EDGE_TOKEN = "auditor-token-0123456789abcdef"
EDGE_TOKENS = {
    EDGE_TOKEN: ("hub", "auditor"),
    "operator-token-0123456789abcdef": ("op", "operator"),
}
STREET_TOKEN = "street-office-token-0123456789"
SUPERVISOR_TOKEN = "grid-north-supervisor-token-01"
OFFICER_TOKENS = {"plant-a": "plant-a-officer-token-0123", "plant-b": "plant-b-officer-token-0123"}
ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


@contextmanager
def postgres() -> Iterator[LocalPostgres]:
    """A fresh cluster on a free port, or skip with the reason."""
    try:
        with local_postgres(free_port()) as cluster:
            yield cluster
    except PostgresUnavailableError as error:
        pytest.skip(f"PostgreSQL cannot run here: {error}")


# --------------------------------------------------------------------------- brokers


@contextmanager
def broker(tmp: Path, name: str, extra: str = "", port: int | None = None) -> Iterator[BrokerInfo]:
    """mosquitto with ``extra`` config lines (a bridge, an ACL...), stopped by PID."""
    data_dir = tmp / name
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = data_dir / "mosquitto.conf"
    config.write_text(mosquitto_config(data_dir, port, None) + extra)
    log = data_dir / "mosquitto.log"
    with (data_dir / "stderr.log").open("ab") as err:
        proc = subprocess.Popen(
            [str(mosquitto_binary()), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
        )
    try:
        if not wait_until(lambda: _port_open(port) or proc.poll() is not None, 10):
            raise RuntimeError(f"mosquitto {name} did not start")
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto {name} exited: {(data_dir / 'stderr.log').read_text()}")
        yield BrokerInfo(port=port, pid=proc.pid, config_path=config, log_path=log)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def bridge_lines(name: str, central_port: int, site: str) -> str:
    """An edge broker's bridge of one site's topics to the central broker (as in
    config/mosquitto-edge.conf): events up, commands down, queued while the uplink is down."""
    return "\n".join(
        [
            f"connection {name}",
            f"address {HOST}:{central_port}",
            f"remote_clientid bridge-{site}",
            "cleansession false",
            "bridge_protocol_version mqttv50",
            "restart_timeout 1 5",
            *(
                f"topic {PREFIX}/{site}/{kind} out 1"
                for kind in ("alerts", "status", "audit/head", "cameras/#", "commands/result")
            ),
            f"topic {PREFIX}/{site}/commands in 1",
            "",
        ]
    )


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection((HOST, port), timeout=0.3):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- edges


@dataclass
class Edge:
    """One real edge node (in-process, its API on a real port)."""

    site: str
    tmp: Path
    ledger: Ledger
    alerts: AlertService
    cases: CaseService
    api_url: str
    publisher: MqttPublisher | None
    stop: threading.Event
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def raise_alert(self, camera: str = "dock", hazard: Hazard = Hazard.BLOCKED_EXIT) -> str:
        """A new incident (start snapshot) in a zone of its own; returns the alert id."""
        index = next(self.counter)
        change = self.alerts.handle(
            Observation(camera, f"zone-{index}", hazard, Phase.START, time.time(), 0.8), FRAME
        )
        assert change is not None
        return change.after.alert_id

    def end_alert(self, alert_id: str) -> AlertChange | None:
        """End the incident of ``alert_id``."""
        alert = self.ledger.alert(alert_id)
        assert alert is not None
        return self.alerts.handle(
            Observation(
                alert.camera, alert.zone, Hazard(alert.hazard), Phase.END, time.time(), 0.8
            ),
            None,
        )

    def event_ids(self) -> set[str]:
        """Every event the edge stored."""
        with self.ledger.reading() as db:
            return {row[0] for row in db.execute("SELECT event_id FROM events")}


@contextmanager
def edge(tmp: Path, site: str, broker_port: int | None) -> Iterator[Edge]:
    """An edge for ``site``: alerts stored in its ledger, published to ``broker_port`` (None:
    not published at all), served on its API with EDGE_TOKENS."""
    data = tmp / site
    ledger = Ledger(data / "ledger.sqlite3")
    topics = Topics(PREFIX, site)
    port = free_port()
    api_url = f"http://{HOST}:{port}"
    stop, wake = threading.Event(), threading.Event()
    service = AlertService(
        ledger, topics, data, api_url, {}, recorded=wake, min_update_interval_s=0.0
    )
    cases = CaseService(ledger, topics, data, api_url, recorded=wake)
    app = create_app(
        ApiDependencies(
            ledger, data, topics, api_url, cases, tokens=EDGE_TOKENS, open_when_no_tokens=False
        )
    )
    server = api_server(app, HOST, port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, 10), "edge API did not start"
    publisher = None
    if broker_port is not None:
        settings = BrokerSettings(HOST, broker_port, f"edge-{site}", reconnect_max_s=2)
        publisher = MqttPublisher(settings, ledger, topics, stop, wake)
        publisher.start()
    try:
        yield Edge(site, data, ledger, service, cases, api_url, publisher, stop)
    finally:
        stop.set()
        if publisher is not None:
            publisher.join(10)
        server.should_exit = True
        thread.join(5)
        ledger.close()


# --------------------------------------------------------------------------- the hub


def hub_config(
    tmp: Path,
    dsn: str,
    broker_port: int,
    edges: dict[str, str],
    **sections: dict[str, Any],
) -> Path:
    """A hub.yaml for sites ``edges`` (site -> API URL): grid north holds plant-a and plant-b,
    grid south the others; a street office token, north's supervisor, one officer per plant."""
    north = [s for s in edges if s in ("plant-a", "plant-b")]
    south = [s for s in edges if s not in north]
    grids = []
    people: list[dict[str, Any]] = [
        {"name": "Street office", "role": "street_office", "token": STREET_TOKEN}
    ]
    if north:
        grids.append({"id": "north", "name": "North grid", "supervisor": "Li Wei", "sites": north})
        people.append(
            {"name": "Li Wei", "role": "supervisor", "grid": "north", "token": SUPERVISOR_TOKEN}
        )
    if south:
        grids.append(
            {"id": "south", "name": "South grid", "supervisor": "Wang Fang", "sites": south}
        )
        people.append(
            {
                "name": "Wang Fang",
                "role": "supervisor",
                "grid": "south",
                "token": "grid-south-supervisor-token-01",
            }
        )
    for site, token in OFFICER_TOKENS.items():
        if site in edges:
            people.append(
                {"name": f"{site} officer", "role": "officer", "site": site, "token": token}
            )
    document: dict[str, Any] = {
        "street_office": {"name": "Test street office"},
        "mqtt": {"host": HOST, "port": broker_port, "topic_prefix": PREFIX},
        "database": {"dsn": dsn},
        "evidence": {"dir": str(tmp / "hub-evidence"), "retry_min_s": 0.5, "retry_max_s": 2},
        "sync": {"check_s": 0.5, "grace_s": 1.0, "poll_s": 2.0},
        "api": {"host": HOST, "port": 0},
        "escalation": {"check_s": 0.5, "command_resend_s": 1.0},
        "sites": [
            {"id": site, "name": f"Site {site}", "api_url": url, "token": EDGE_TOKEN}
            for site, url in edges.items()
        ],
        "grids": grids,
        "people": people,
    }
    for name, values in sections.items():
        document[name] = {**document.get(name, {}), **values}
    path = tmp / "hub.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


@dataclass
class HubProcess:
    """A ``sitewatch hub`` subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def get(self, path: str, token: str = STREET_TOKEN) -> httpx.Response:
        """A request to its API."""
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill9(self) -> None:
        """SIGKILL, as a crash would."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def log(self) -> str:
        """What it logged."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def hub_process(config: Path, client_id: str) -> Iterator[HubProcess]:
    """``sitewatch hub --config config --client-id client_id`` on a free API port, up once its
    MQTT session is connected; stopped by PID (SIGTERM, then SIGKILL)."""
    port = free_port()
    log_path = config.parent / f"{client_id}.log"
    argv = [
        sys.executable,
        "-m",
        "sitewatch",
        "hub",
        "--config",
        str(config),
        "--client-id",
        client_id,
        "--port",
        str(port),
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    hub = HubProcess(proc, f"http://{HOST}:{port}", log_path)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"hub {client_id} exited:\n{hub.log()}")
        try:
            return bool(httpx.get(hub.url + "/healthz", timeout=2).json()["mqtt_connected"])
        except (httpx.HTTPError, ValueError, KeyError):
            return False

    try:
        assert wait_until(up, 30), f"hub {client_id} did not connect:\n{hub.log()}"
        yield hub
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def count_rows(dsn: str, sql: str, *params: Any) -> int:
    """One number from PostgreSQL."""
    import psycopg

    with psycopg.connect(dsn) as db:
        row = db.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def published(client_port: int, topic: str, payload: bytes | str) -> None:
    """Publish one QoS 1 message with a throwaway MQTT 5 client (waits for the PUBACK)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(HOST, client_port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def event_payloads(edge_: Edge) -> list[str]:
    """The edge's stored event payloads (as published)."""
    with edge_.ledger.reading() as db:
        return [row[0] for row in db.execute("SELECT payload FROM events ORDER BY rowid")]


def as_json(text: str) -> dict[str, Any]:
    """Parse a payload."""
    parsed: dict[str, Any] = json.loads(text)
    return parsed
