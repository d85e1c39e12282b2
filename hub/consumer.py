"""Takes every site's messages from the central broker and stores them in PostgreSQL.

MQTT 5 only, nothing broker-specific: a *shared subscription*
(``$share/<group>/<prefix>/+/alerts``) spreads events over the hub processes of a group; a
persistent session (clean start off, a session expiry) keeps what arrives while a process is
down; and every message is acknowledged (manual PUBACK) only after the transaction holding it
committed. A hub killed mid-batch has acknowledged nothing of it: the broker delivers it again.
Retained audit heads are not delivered to shared subscriptions, so each hub subscribes to them
directly.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.config import HubConfig
from hub.intake import Event, Head, Rejected, TopicKind, judge_event, judge_head, split_topic
from hub.metrics import HubMetrics
from hub.store import Db, Outcome, note_head, queue_evidence, record_rejection, store_event

log = logging.getLogger(__name__)
BATCH = 200
RETRY_MIN_S, RETRY_MAX_S = 0.5, 10.0

CommandResultHandler = Callable[[Db, str, bytes], None]
EventHandler = Callable[[Db, Event], None]


@dataclass(frozen=True, slots=True)
class Received:
    """One message as paho handed it over (acknowledged after it is stored)."""

    topic: str
    payload: bytes
    mid: int
    qos: int


def subscriptions(config: HubConfig) -> list[tuple[str, SubscribeOptions]]:
    """What a hub subscribes to."""
    prefix, group = config.mqtt.topic_prefix, config.mqtt.share_group
    qos1 = SubscribeOptions(qos=1)
    return [
        (f"$share/{group}/{prefix}/+/alerts", qos1),
        (f"$share/{group}/{prefix}/+/commands/result", qos1),
        (f"{prefix}/+/audit/head", qos1),
    ]


class HubConsumer:
    """The MQTT client (paho thread) and the storing thread."""

    def __init__(
        self,
        config: HubConfig,
        connect: Callable[[], Db],
        metrics: HubMetrics,
        stop: threading.Event,
        on_command_result: CommandResultHandler | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self._config = config
        self._connect = connect
        self._metrics = metrics
        self._stop_event = stop
        self._on_command_result = on_command_result
        self._on_event = on_event
        self._sites = frozenset(s.id for s in config.sites)
        self._inbox: queue.Queue[Received] = queue.Queue()
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.client = self._make_client()
        self._worker = threading.Thread(target=self._store_loop, name="hub-store", daemon=True)

    def _make_client(self) -> mqtt.Client:
        m = self._config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=m.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if m.username is not None:
            password = None if m.password is None else m.password.get_secret_value()
            client.username_pw_set(m.username, password)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect (retrying forever) and start storing."""
        m = self._config.mqtt
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = m.session_expiry_s
        properties.ReceiveMaximum = m.receive_maximum
        self.client.connect_async(
            m.host, m.port, keepalive=m.keepalive_s, clean_start=False, properties=properties
        )
        self.client.loop_start()
        self._worker.start()

    def join(self, timeout_s: float = 5.0) -> None:
        """After ``stop``: let the storing thread finish its batch, then disconnect."""
        self._worker.join(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho thread --------------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            self.last_error = f"central broker refused the connection: {reason}"
            log.warning("hub mqtt: %s", self.last_error)
            return
        log.info(
            "hub mqtt: connected to %s:%s as %s (session present: %s)",
            self._config.mqtt.host,
            self._config.mqtt.port,
            self._config.mqtt.client_id,
            getattr(flags, "session_present", None),
        )
        client.subscribe(subscriptions(self._config))
        self.last_error = None
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        if not self._stop_event.is_set():
            self.last_error = f"lost the central broker: {reason}"
            log.warning("hub mqtt: %s (reconnecting; unacknowledged events come again)", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(Received(message.topic, bytes(message.payload), message.mid, message.qos))

    # --- storing thread -----------------------------------------------------------------------

    def _store_loop(self) -> None:
        db: Db | None = None
        delay = RETRY_MIN_S
        batch: list[Received] = []
        try:
            while not (self._stop_event.is_set() and not batch and self._inbox.empty()):
                if not batch:
                    batch = self._take()
                    if not batch:
                        continue
                try:
                    if db is None or db.closed:
                        db = self._connect()
                    self._store_batch(db, batch)
                except psycopg.Error as error:
                    self._metrics.add("sitewatch_hub_database_errors_total")
                    log.warning(
                        "hub: could not store %d message(s), not acknowledged, retrying in %g s:"
                        " %s",
                        len(batch),
                        delay,
                        str(error).strip(),
                    )
                    if db is not None:
                        db.close()
                    db = None
                    if self._stop_event.wait(delay):
                        return  # unacknowledged: the broker delivers them again
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                delay = RETRY_MIN_S
                for item in batch:
                    if item.qos > 0:
                        self.client.ack(item.mid, item.qos)
                batch = []
        finally:
            if db is not None:
                db.close()

    def _take(self) -> list[Received]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < BATCH:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _store_batch(self, db: Db, batch: list[Received]) -> None:
        counts: dict[str, int] = {}
        rejections: list[Rejected] = []
        with db.transaction():
            for item in batch:
                outcome = self._store_one(db, item)
                if isinstance(outcome, Rejected):
                    rejections.append(outcome)
                elif outcome is not None:
                    counts[outcome] = counts.get(outcome, 0) + 1
        self._metrics.add("sitewatch_hub_events_received_total", len(batch))
        self._metrics.add("sitewatch_hub_events_stored_total", counts.get(Outcome.STORED, 0))
        self._metrics.add("sitewatch_hub_events_duplicate_total", counts.get(Outcome.DUPLICATE, 0))
        for rejected in rejections:
            self._metrics.add("sitewatch_hub_rejected_total", label=("reason", rejected.reason))
            log.warning("hub: refused a message: %s: %s", rejected.reason.value, rejected.detail)

    def _store_one(self, db: Db, item: Received) -> Outcome | Rejected | None:
        where = split_topic(item.topic, self._config.mqtt.topic_prefix)
        if where is None:
            return None  # not ours (the subscriptions should not bring any)
        site, kind = where
        if kind is TopicKind.AUDIT_HEAD:
            head = judge_head(site, self._sites, item.payload)
            if isinstance(head, Head):
                note_head(db, head.site, head.seq)
                return None
            record_rejection(db, item.topic, head, None)
            return head
        if kind is TopicKind.COMMAND_RESULT:
            if site in self._sites and self._on_command_result is not None:
                self._on_command_result(db, site, item.payload)
            return None
        judged = judge_event(site, self._sites, item.payload)
        if isinstance(judged, Rejected):
            record_rejection(db, item.topic, judged, _digest(item.payload))
            return judged
        outcome = self._store_event(db, judged)
        if isinstance(outcome, Rejected):
            record_rejection(db, item.topic, outcome, judged.sha256)
        return outcome

    def _store_event(self, db: Db, event: Event) -> Outcome | Rejected:
        with db.transaction():  # a savepoint: a refused event leaves the batch intact
            outcome = store_event(db, event, "mqtt")
            if outcome is Outcome.STORED:
                queue_evidence(db, event)
                if self._on_event is not None:
                    self._on_event(db, event)  # e.g. a state event settles its command
        return outcome


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def wait_connected(consumer: HubConsumer, timeout_s: float) -> bool:
    """True once the consumer's first connection is up (tests, demo)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if consumer.connected.wait(0.1):
            return True
    return False
