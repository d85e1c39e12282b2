"""Drains the ledger's outbox to MQTT at QoS 1; a row counts as delivered only on its PUBACK.

Delivery is at least once: after a reconnect or a restart every undelivered row is sent again
in outbox order, and consumers drop duplicates by ``event_id``. The outbox is the only source
of truth: messages paho still holds from a dead connection are dropped on reconnect (the outbox
resends them in order), and a PUBACK carrying a failure reason (MQTT 5, e.g. an ACL refusal)
leaves the row undelivered and retries it later.

It also keeps the audit trail's latest head on a retained topic (``Topics.audit_head``), so
that the monitoring platform holds an anchor outside the ledger.
"""

from __future__ import annotations

import logging
import queue
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from alerts.audit import AuditHead
from alerts.contract import Topics, audit_head_payload
from alerts.ledger import Ledger

log = logging.getLogger(__name__)
ACK_COALESCE_S = 0.01
CONNACK_TIMEOUT_S = 5.0
UNSUPPORTED_PROTOCOL_VERSION = 132  # MQTT 5 reason code (a 3.1.1 broker's CONNACK 1 maps here)

# CONNACK reasons that mean the credentials are wrong (MQTT 5 codes; paho maps 3.1.1 codes 4/5
# onto them): "Bad user name or password" and "Not authorized".
AUTH_REFUSALS = frozenset({134, 135})


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
    fall_back_to_311: bool = True  # a broker that refuses MQTT 5 gets 3.1.1
    reconnect_min_s: int = 1  # connection retries back off from this...
    reconnect_max_s: int = 30  # ...doubling up to this (also for refused publishes)


class Ack(NamedTuple):
    """A PUBACK as the paho thread saw it."""

    session: int
    mid: int
    refusal: str | None  # the failure reason, if the broker did not take the message


def refusal_message(reason: ReasonCode) -> str:
    """Why a CONNACK refused us, with a hint at the setting to check."""
    hint = " (check mqtt.username/password)" if reason.value in AUTH_REFUSALS else ""
    return f"broker refused the connection: {reason}{hint}"


def connect_error_message(host: str, port: int, error: BaseException | None) -> str:
    """Why the TCP/TLS connection failed, with a hint for certificate problems."""
    where = f"cannot connect to the broker at {host}:{port}"
    if error is None:
        return where
    hint = ""
    if isinstance(error, ssl.SSLCertVerificationError):
        hint = " (check mqtt.tls.ca_file and that the broker certificate names mqtt.host)"
    return f"{where}: {error}{hint}"


def configure_client(client: mqtt.Client, settings: BrokerSettings) -> None:
    """Credentials, TLS and reconnect backoff of ``settings`` on a new paho client (every
    connection sitewatch opens to the broker uses the same)."""
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            certfile=str(settings.cert_file) if settings.cert_file else None,
            keyfile=str(settings.key_file) if settings.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(settings.insecure)
    client.reconnect_delay_set(
        min_delay=settings.reconnect_min_s, max_delay=settings.reconnect_max_s
    )


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
        self._acks: queue.SimpleQueue[Ack] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # mid -> outbox seq, for the session being filled
        self._last_sent = 0
        self._connected = threading.Event()
        self._session_lock = threading.Lock()
        self._session = 0  # counts successful connections (paho thread)
        self._filled_session = 0  # the session the outbox drain works on (publisher thread)
        self._retry_from: int | None = None  # lowest seq the broker refused
        self._retry_at: float | None = None
        self._refusal_delay_s = float(settings.reconnect_min_s)
        self._last_error: str | None = None
        self._answered = False  # a CONNACK came on the current connection attempt
        self._retained_lock = threading.Lock()
        self._retained: dict[str, str] = {}
        self._published_head: AuditHead | None = None
        self.delivered = 0
        self._mqtt5 = settings.mqtt5
        self._downgrade = threading.Event()
        self._silent_since: float | None = None
        self.client = self._make_client()

    @property
    def connected(self) -> bool:
        """True while the broker session is up."""
        return self._connected.is_set()

    @property
    def protocol(self) -> str:
        """The MQTT version in use: "5" or "3.1.1"."""
        return "5" if self._mqtt5 else "3.1.1"

    @property
    def last_error(self) -> str | None:
        """Why alerts are not getting through right now (None when they are)."""
        return self._last_error

    def set_retained(self, topic: str, payload: str) -> None:
        """Publish a retained status now if connected, and again after every reconnect."""
        with self._retained_lock:
            self._retained[topic] = payload
        if self.connected:
            self.client.publish(topic, payload, qos=1, retain=True)

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        protocol = mqtt.MQTTv5 if self._mqtt5 else mqtt.MQTTv311
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=protocol)
        configure_client(client, s)
        client.will_set(self._topics.status, "offline", qos=1, retain=True)
        client.max_inflight_messages_set(self._window)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # --- paho thread --------------------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        self._answered = True
        refused_v5 = reason.is_failure and reason.value == UNSUPPORTED_PROTOCOL_VERSION
        if refused_v5 and self._mqtt5 and self._settings.fall_back_to_311:
            log.info("mqtt: the broker does not speak MQTT 5; switching to 3.1.1")
            self._downgrade.set()
            self._wake.set()
            return
        if reason.is_failure:  # paho closes the socket and retries after its backoff
            self._fail(refusal_message(reason))
            return
        drop_stale = getattr(client, "drop_out_messages", None)  # paho >= 2.2
        if drop_stale is not None:
            drop_stale()  # the outbox resends them, in order, after the reset below
        log.info("mqtt: connected to %s:%s", self._settings.host, self._settings.port)
        client.publish(self._topics.status, "online", qos=1, retain=True)
        with self._retained_lock:
            for topic, payload in self._retained.items():
                client.publish(topic, payload, qos=1, retain=True)
        with self._session_lock:
            self._session += 1
            self._last_error = None
            self._connected.set()
        self._wake.set()

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        # paho calls this from its ``except OSError`` around the connect, without the error.
        error = sys.exc_info()[1]
        self._fail(connect_error_message(self._settings.host, self._settings.port, error))

    def _fail(self, message: str) -> None:
        self._last_error = message
        log.warning("mqtt: %s; retrying with backoff", message)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._session_lock:
            was_connected = self._connected.is_set()
            self._connected.clear()
        answered, self._answered = self._answered, False
        if self._stop_event.is_set():
            log.info("mqtt: disconnected")
        elif was_connected:
            self._last_error = f"lost the connection to the broker: {reason}"
            log.warning("mqtt: disconnected (%s); undelivered alerts stay in the outbox", reason)
        elif not answered:  # e.g. plain MQTT to a TLS port: TCP worked, no CONNACK came
            s = self._settings
            self._fail(
                f"the broker at {s.host}:{s.port} closed the connection without answering"
                f" ({reason}; a TLS port? check mqtt.tls)"
            )

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        refusal = str(reason) if reason.is_failure else None
        self._acks.put(Ack(self._session, mid, refusal))
        self._wake.set()

    # --- publisher thread ---------------------------------------------------------------------

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
                if self._inflight:  # let PUBACKs gather: one ledger commit marks many
                    self._stop_event.wait(ACK_COALESCE_S)
            self._drain_before_exit()
        finally:
            self._say_offline()
            self.client.loop_stop()

    def _switch_to_311(self) -> None:
        """Replace the MQTT 5 client by a 3.1.1 one (same settings, same outbox)."""
        self._downgrade.clear()
        self._silent_since = None
        self.client.disconnect()  # closes the socket of the unanswered attempt
        self.client.loop_stop()
        self._mqtt5 = False
        self.client = self._make_client()
        s = self._settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()

    def _notice_silent_broker(self) -> None:
        """Some MQTT 3.1.1 brokers never answer an MQTT 5 CONNECT: after CONNACK_TIMEOUT_S of
        silence on an open socket, fall back to 3.1.1."""
        waiting = (
            self._mqtt5
            and self._settings.fall_back_to_311
            and not self._connected.is_set()
            and not self._answered
            and self.client.socket() is not None
        )
        if not waiting:
            self._silent_since = None
            return
        now = time.monotonic()
        if self._silent_since is None:
            self._silent_since = now
        elif now - self._silent_since >= CONNACK_TIMEOUT_S:
            log.info("mqtt: no answer to an MQTT 5 CONNECT; switching to 3.1.1")
            self._downgrade.set()

    def _cycle(self) -> None:
        self._notice_silent_broker()
        if self._downgrade.is_set():
            self._switch_to_311()
        self._record_acks()
        with self._session_lock:
            session = self._session if self._connected.is_set() else None
        if session is None:
            return
        if session != self._filled_session:  # a new connection: resend all undelivered
            self._filled_session = session
            self._inflight.clear()
            self._last_sent = 0
            self._retry_from = self._retry_at = None
        self._rewind_refused()
        self._fill_window()
        self._publish_audit_head()

    def _publish_audit_head(self) -> None:
        """The trail's head, retained, whenever it changed (resent after every reconnect)."""
        head, at = self._ledger.latest_audit()
        if head != self._published_head:
            self._published_head = head
            self.set_retained(self._topics.audit_head, audit_head_payload(head, at))

    def _fill_window(self) -> None:
        room = self._window - len(self._inflight)
        if room <= 0:
            return
        sending = set(self._inflight.values())
        for item in self._ledger.pending(room, after_seq=self._last_sent):
            if item.seq not in sending:
                info = self.client.publish(item.topic, item.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # lost the connection; resent after the reconnect
                self._inflight[info.mid] = item.seq
            self._last_sent = item.seq

    def _record_acks(self) -> None:
        delivered: list[int] = []
        refused: list[int] = []
        reason = ""
        while True:
            try:
                ack = self._acks.get_nowait()
            except queue.Empty:
                break
            seq = self._inflight.pop(ack.mid, None) if ack.session == self._filled_session else None
            if seq is None:
                continue  # an ack from an earlier connection: that row is being resent
            if ack.refusal is None:
                delivered.append(seq)
            else:
                refused.append(seq)
                reason = ack.refusal
        if delivered:
            if not refused and self._retry_at is None:  # the broker takes alerts again
                self._refusal_delay_s = float(self._settings.reconnect_min_s)
                self._last_error = None
            self._ledger.mark_delivered(delivered, time.time())
            self.delivered += len(delivered)
        if refused:
            self._schedule_retry(refused, reason)

    def _schedule_retry(self, seqs: list[int], reason: str) -> None:
        """The broker answered but refused these rows: keep them and send them again later."""
        first = min(seqs)
        self._retry_from = first if self._retry_from is None else min(self._retry_from, first)
        if self._retry_at is not None:
            return  # already scheduled (and logged) for this round
        delay = self._refusal_delay_s
        self._retry_at = time.monotonic() + delay
        self._refusal_delay_s = min(delay * 2, float(self._settings.reconnect_max_s))
        self._last_error = (
            f"broker refused alert events on {self._topics.alerts}: {reason}"
            " (check the broker ACL for this client)"
        )
        log.warning("mqtt: %s; they stay in the outbox, next try in %g s", self._last_error, delay)

    def _rewind_refused(self) -> None:
        if self._retry_at is None or self._retry_from is None:
            return
        if time.monotonic() < self._retry_at:
            return
        self._last_sent = min(self._last_sent, self._retry_from - 1)
        self._retry_from = self._retry_at = None

    def _drain_before_exit(self) -> None:
        deadline = time.monotonic() + self._drain_timeout_s
        while time.monotonic() < deadline and self._connected.is_set():
            self._cycle()
            if not self._inflight and self._ledger.pending_count() == 0:
                return
            self._wake.wait(0.05)
            self._wake.clear()
        self._record_acks()
        if self._connected.is_set():
            self._publish_audit_head()  # the last head, before "offline"
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
