"""Drains the ledger's outbox to MQTT at QoS 1; a row counts as delivered only on its PUBACK.

Delivery is at least once: after a reconnect or a restart every undelivered row is sent again
in order, and consumers drop duplicates by ``event_id``.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.contract import Topics
from alerts.ledger import Ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerSettings:
    """How to reach the broker."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls: bool = False
    insecure: bool = False
    keepalive_s: int = 30
    mqtt5: bool = True


class MqttPublisher(threading.Thread):
    """Owns the MQTT client: node status (last will), retained camera status, outbox drain."""

    def __init__(
        self,
        settings: BrokerSettings,
        ledger: Ledger,
        topics: Topics,
        stop: threading.Event,
        wake: threading.Event,
        window: int = 100,
        drain_timeout_s: float = 3.0,
    ) -> None:
        super().__init__(name="mqtt-publisher", daemon=True)
        self._settings = settings
        self._ledger = ledger
        self._topics = topics
        self._stop_event = stop
        self._wake = wake
        self._window = window
        self._drain_timeout_s = drain_timeout_s
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # mid -> outbox seq
        self._last_sent = 0
        self._connected = threading.Event()
        self._reset = threading.Event()
        self._retained_lock = threading.Lock()
        self._retained: dict[str, str] = {}
        self.delivered = 0
        self.client = self._make_client()

    @property
    def connected(self) -> bool:
        """True while the broker session is up."""
        return self._connected.is_set()

    def set_retained(self, topic: str, payload: str) -> None:
        """Publish a retained status now if connected, and again after every reconnect."""
        with self._retained_lock:
            self._retained[topic] = payload
        if self.connected:
            self.client.publish(topic, payload, qos=1, retain=True)

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        protocol = mqtt.MQTTv5 if s.mqtt5 else mqtt.MQTTv311
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=protocol)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(
                ca_certs=str(s.ca_file) if s.ca_file else None,
                certfile=str(s.cert_file) if s.cert_file else None,
                keyfile=str(s.key_file) if s.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(s.insecure)
        client.will_set(self._topics.status, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(self._window)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt: broker refused the connection: %s", reason)
            return
        log.info("mqtt: connected to %s:%s", self._settings.host, self._settings.port)
        client.publish(self._topics.status, "online", qos=1, retain=True)
        with self._retained_lock:
            for topic, payload in self._retained.items():
                client.publish(topic, payload, qos=1, retain=True)
        self._reset.set()
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._stop_event.is_set():
            log.info("mqtt: disconnected")
        elif self._connected.is_set():
            log.warning("mqtt: disconnected (%s); undelivered alerts stay in the outbox", reason)
        self._connected.clear()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        self._acks.put(mid)
        self._wake.set()

    def run(self) -> None:
        """Connect (retrying forever) and drain the outbox until stop, then say offline."""
        s = self._settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()
        try:
            while not self._stop_event.is_set():
                self._cycle()
                self._wake.wait(0.5)
                self._wake.clear()
            self._drain_before_exit()
        finally:
            self._say_offline()
            self.client.loop_stop()

    def _cycle(self) -> None:
        self._record_acks()
        if self._reset.is_set():
            self._reset.clear()
            self._inflight.clear()
            self._last_sent = 0
        if self._connected.is_set():
            self._fill_window()

    def _fill_window(self) -> None:
        room = self._window - len(self._inflight)
        if room <= 0:
            return
        for item in self._ledger.pending(room, after_seq=self._last_sent):
            info = self.client.publish(item.topic, item.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # lost the connection; resent after the reconnect
            self._inflight[info.mid] = item.seq
            self._last_sent = item.seq

    def _record_acks(self) -> None:
        seqs: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            seq = self._inflight.pop(mid, None)
            if seq is not None:
                seqs.append(seq)
        if seqs:
            self._ledger.mark_delivered(seqs, time.time())
            self.delivered += len(seqs)

    def _drain_before_exit(self) -> None:
        deadline = time.monotonic() + self._drain_timeout_s
        while time.monotonic() < deadline and self._connected.is_set():
            self._cycle()
            if not self._inflight and self._ledger.pending_count() == 0:
                return
            self._wake.wait(0.05)
            self._wake.clear()
        self._record_acks()
        left = self._ledger.pending_count()
        if left:
            log.warning("mqtt: %d event(s) not yet acknowledged; sent after the next start", left)

    def _say_offline(self) -> None:
        if self._connected.is_set():
            info = self.client.publish(self._topics.status, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError) as error:
                log.warning("mqtt: could not publish offline status: %s", error)
            self.client.disconnect()
