"""A subscriber that prints every alert event as the monitoring platform receives it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console

from alerts.contract import Topics

STYLES = {"new": "bold red", "update": "yellow", "end": "green", "clip_ready": "cyan"}


class AlertPrinter:
    """Subscribes to ``<prefix>/<site>/alerts`` and prints each event once (dedup by event_id)."""

    def __init__(self, host: str, port: int, topics: Topics, console: Console, mqtt5: bool) -> None:
        self._topics = topics
        self._console = console
        self._seen: set[str] = set()
        self._started = time.monotonic()
        self.first_alert_after_s: float | None = None
        self.received = threading.Event()
        protocol = mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{topics.site}-demo-printer", protocol=protocol
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._client.connect_async(host, port)

    def start(self) -> None:
        """Connect (retrying until the broker is up) in paho's background thread."""
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self._topics.alerts, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        event = json.loads(message.payload)
        if event["event_id"] in self._seen:
            return
        self._seen.add(event["event_id"])
        if self.first_alert_after_s is None and event["type"] == "new":
            self.first_alert_after_s = time.monotonic() - self._started
        self.received.set()
        alert = event["after"]
        style = STYLES.get(event["type"], "white")
        snapshot = alert["snapshot"]["url"] if alert.get("snapshot") else "—"
        self._console.print(
            f"[{style}]ALERT {event['type'].upper():<7}[/] {alert['hazard']} "
            f"camera={alert['camera']} zone={alert['zone']} severity={alert['severity']} "
            f"score={alert['score']:.2f} id={alert['alert_id']}\n"
            f"              snapshot {snapshot}",
            highlight=False,
        )
