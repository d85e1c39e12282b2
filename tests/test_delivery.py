"""Alert delivery against a real mosquitto: nothing is lost across a 60 s broker outage or a
kill -9, a wrong password or CA gives a clear status without a busy loop, and TLS works.

The consumer is a persistent-session QoS 1 subscriber (what the platform runs): mosquitto keeps
its messages while it is away, also across a broker restart, and it dedupes by ``event_id``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.embedded_broker import EmbeddedBroker
from alerts.ledger import Ledger
from alerts.mqtt_publisher import BrokerSettings, MqttPublisher
from alerts.service import AlertService
from tests.delivery_burst import (
    EVIDENCE_URL,
    TOPICS,
    observation,
    stored_event_count,
)
from tests.servers import HOST, BrokerInfo, free_port, mosquitto
from tests.tls import make_ca, make_server_tls

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
OUTAGE_S = 60.0
BURST = 200
FREEZE_AT, KILL_AT = 60, 93  # the kill lands mid-alert (8 zones, 5 events per alert)


# --------------------------------------------------------------------------- consumer


@dataclass
class Consumer:
    """Alert events as a persistent-session subscriber received them, duplicates included."""

    received: list[dict[str, Any]] = field(default_factory=list)
    sessions_present: list[bool] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.received.append(json.loads(message.payload))
            self.changed.notify_all()

    def on_connect(self, _c: mqtt.Client, _u: Any, flags: Any, _r: Any, _p: Any) -> None:
        with self.changed:
            self.sessions_present.append(bool(flags.session_present))

    def deduped(self) -> list[dict[str, Any]]:
        """First arrival of every event, in arrival order (what a consumer keeps)."""
        with self.changed:
            seen: set[str] = set()
            kept = []
            for event in self.received:
                if event["event_id"] not in seen:
                    seen.add(event["event_id"])
                    kept.append(event)
            return kept

    def event_ids(self) -> set[str]:
        with self.changed:
            return {event["event_id"] for event in self.received}


@contextmanager
def consumer(broker: BrokerInfo, tls_ca: Path | None = None) -> Iterator[Consumer]:
    """Subscribe to the alert topic at QoS 1 with a persistent session (clean_session False)."""
    inbox = Consumer()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="delivery-consumer",
        protocol=mqtt.MQTTv311,
        clean_session=False,
    )
    if tls_ca is not None:
        client.tls_set(ca_certs=str(tls_ca))
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    client.on_message, client.on_connect = inbox.on_message, inbox.on_connect
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe(TOPICS.alerts, qos=1)
        assert subscribed.wait(5.0), "no SUBACK"
        yield inbox
    finally:
        client.disconnect()
        client.loop_stop()


# --------------------------------------------------------------------------- sitewatch side


@dataclass
class Sitewatch:
    """The in-process alert path: ledger, AlertService and MqttPublisher."""

    ledger: Ledger
    service: AlertService
    publisher: MqttPublisher
    stop: threading.Event


@contextmanager
def sitewatch(tmp_path: Path, settings: BrokerSettings) -> Iterator[Sitewatch]:
    """A started publisher over a fresh ledger; created_at advances 1 s per event."""
    ledger = Ledger(tmp_path / "data" / "ledger.sqlite3")
    stop, wake = threading.Event(), threading.Event()
    ticks = itertools.count(1_700_000_000.0, 1.0)
    service = AlertService(
        ledger,
        TOPICS,
        tmp_path / "data",
        EVIDENCE_URL,
        {"blocked_exit": 0.0},
        clock=lambda: next(ticks),
        recorded=wake,
    )
    publisher = MqttPublisher(settings, ledger, TOPICS, stop, wake)
    publisher.start()
    try:
        yield Sitewatch(ledger, service, publisher, stop)
    finally:
        stop.set()
        publisher.join(10.0)
        ledger.close()


def broker_settings(
    port: int, client_id: str = "sitewatch-delivery", **extra: Any
) -> BrokerSettings:
    return BrokerSettings(HOST, port, client_id, reconnect_max_s=2, **extra)


def record(service: AlertService, indexes: range) -> None:
    for index in indexes:
        assert service.handle(observation(index), None) is not None


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def stored_events(ledger: Ledger) -> dict[str, list[dict[str, Any]]]:
    """Every alert's events as stored, oldest first."""
    return {a.alert_id: ledger.events(a.alert_id) for a in ledger.recent_alerts(100_000)}


def assert_complete_and_ordered(inbox: Consumer, ledger: Ledger, expected: int) -> None:
    """Every stored event arrived, once after dedup, and each alert's events in stored order."""
    stored = stored_events(ledger)
    stored_ids = {e["event_id"] for events in stored.values() for e in events}
    assert len(stored_ids) == expected
    kept = inbox.deduped()
    assert len(kept) == len(stored_ids) and {e["event_id"] for e in kept} == stored_ids
    created = [e["created_at"] for e in kept]
    assert created == sorted(created), "not in outbox order"
    arrived: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in kept:
        arrived[event["after"]["alert_id"]].append(event)
    for alert_id, events in stored.items():
        got = arrived[alert_id]
        assert [e["event_id"] for e in got] == [e["event_id"] for e in events], alert_id
        kinds = [e["type"] for e in got]
        ended = events[-1]["after"]["ended_at"] is not None
        updates = len(kinds) - 1 - ended
        assert kinds == ["new", *["update"] * updates, *["end"] * ended], kinds
    assert ledger.pending_count() == 0


# --------------------------------------------------------------------------- tests


def test_a_60_s_broker_outage_mid_burst_loses_nothing(tmp_path: Path) -> None:
    """200 events: 50 delivered, 50 unacknowledged when mosquitto dies, 100 while it is down."""
    port = free_port()
    with ExitStack() as stack:
        with mosquitto(tmp_path, port=port) as broker:
            inbox = stack.enter_context(consumer(broker))  # both outlive this broker run
            sw = stack.enter_context(sitewatch(tmp_path, broker_settings(port)))
            assert wait_until(lambda: sw.publisher.connected, 10.0), sw.publisher.last_error
            record(sw.service, range(BURST // 4))
            assert wait_until(lambda: sw.ledger.pending_count() == 0, 5.0)
            os.kill(broker.pid, signal.SIGSTOP)  # frozen: no PUBACK for what is published now
            record(sw.service, range(BURST // 4, BURST // 2))
            time.sleep(0.5)
            assert sw.publisher.connected and sw.ledger.pending_count() == BURST // 4
            os.kill(broker.pid, signal.SIGTERM)  # it saves its persistence file and exits...
            os.kill(broker.pid, signal.SIGCONT)  # ...as soon as it runs again
        down_at = time.monotonic()
        record(sw.service, range(BURST // 2, BURST))
        assert wait_until(lambda: sw.publisher.last_error is not None, 5.0)
        assert not sw.publisher.connected
        assert sw.ledger.pending_count() >= BURST // 2
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))

        with mosquitto(tmp_path, port=port):  # same port, same persistence dir
            back_at = time.monotonic()
            delivered = wait_until(
                lambda: sw.ledger.pending_count() == 0 and len(inbox.event_ids()) >= BURST, 30.0
            )
            caught_up_s = time.monotonic() - back_at
            assert delivered, f"{sw.ledger.pending_count()} pending, {len(inbox.event_ids())} got"
            assert sw.publisher.last_error is None
            assert_complete_and_ordered(inbox, sw.ledger, BURST)
            stack.close()  # publisher and consumer leave while the broker is up: no retries
    assert len(inbox.sessions_present) >= 2 and all(inbox.sessions_present[1:])
    assert caught_up_s < 10.0


def start_burst(ledger: Path, broker: BrokerInfo, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, str(REPO / "tests" / "delivery_burst.py"), "--ledger", str(ledger)]
    argv += ["--host", broker.host, "--port", str(broker.port), "--events", str(BURST)]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def test_kill_9_mid_burst_then_restart_loses_nothing(tmp_path: Path) -> None:
    """The burst is killed with 30+ events unacknowledged and alerts open, then run again."""
    ledger_path, log = tmp_path / "data" / "ledger.sqlite3", tmp_path / "burst.log"
    with mosquitto(tmp_path) as broker, consumer(broker) as inbox:
        first = start_burst(ledger_path, broker, log)
        try:
            reached = wait_until(lambda: stored_event_count(ledger_path) >= FREEZE_AT, 30.0)
            os.kill(broker.pid, signal.SIGSTOP)  # no PUBACKs: what follows is in flight
            reached = reached and wait_until(
                lambda: stored_event_count(ledger_path) >= KILL_AT, 10.0
            )
        finally:
            first.kill()  # SIGKILL
            first.wait()
            os.kill(broker.pid, signal.SIGCONT)
        assert reached, log.read_text()
        ledger = Ledger(ledger_path)
        try:
            stored, pending = stored_event_count(ledger_path), ledger.pending_count()
            assert KILL_AT <= stored < BURST and pending >= 20, (stored, pending)
            assert ledger.open_alerts(), "killed between alerts: nothing carried over"

            second = start_burst(ledger_path, broker, log)  # continues at event `stored`
            try:
                code = second.wait(60.0)
            finally:
                second.kill()
            assert code == 0, log.read_text()
            assert wait_until(lambda: len(inbox.event_ids()) >= BURST, 5.0), log.read_text()
            assert_complete_and_ordered(inbox, ledger, BURST)
        finally:
            ledger.close()


def mosquitto_passwd(path: Path, user: str, password: str) -> None:
    argv = ["mosquitto_passwd", "-c", "-b", str(path), user, password]
    subprocess.run(argv, check=True, capture_output=True)


def test_wrong_password_is_reported_and_retried_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    passwords = tmp_path / "passwd"
    mosquitto_passwd(passwords, "sitewatch", "right-Pass-1")
    caplog.set_level(logging.WARNING, logger="alerts.mqtt_publisher")
    with mosquitto(tmp_path, password_file=passwords) as broker:
        settings = BrokerSettings(
            HOST, broker.port, "sitewatch-auth", username="sitewatch", password="wrong"
        )
        cpu_before = time.process_time()
        with sitewatch(tmp_path, settings) as sw:
            time.sleep(6.0)
            cpu_s = time.process_time() - cpu_before
            assert not sw.publisher.connected
            assert sw.publisher.last_error == (
                "broker refused the connection: Not authorized (check mqtt.username/password)"
            )
        attempts = broker.log_path.read_text().count("disconnected, not authorised")
    refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
    assert 2 <= attempts <= 5, attempts  # backoff 1, 2, 4 s: refused at 0, 1, 3 (and 7) s
    assert 1 <= len(refusals) <= attempts
    assert cpu_s < 0.5


def test_tls_with_a_test_ca_delivers(tmp_path: Path) -> None:
    tls = make_server_tls(tmp_path / "pki")
    with mosquitto(tmp_path, tls=tls) as broker, consumer(broker, tls.ca_file) as inbox:
        settings = broker_settings(broker.port, tls=True, ca_file=tls.ca_file)
        with sitewatch(tmp_path, settings) as sw:
            record(sw.service, range(3))
            assert wait_until(lambda: len(inbox.event_ids()) == 3, 10.0), sw.publisher.last_error
            assert wait_until(lambda: sw.ledger.pending_count() == 0, 5.0)
            assert sw.publisher.connected and sw.publisher.last_error is None


def test_tls_with_the_wrong_ca_does_not_connect_and_says_why(tmp_path: Path) -> None:
    tls = make_server_tls(tmp_path / "pki")
    other_ca = make_ca(tmp_path / "other-ca", "some other CA")
    with mosquitto(tmp_path, tls=tls) as broker:
        settings = broker_settings(broker.port, tls=True, ca_file=other_ca.cert)
        with sitewatch(tmp_path, settings) as sw:
            record(sw.service, range(1))
            assert wait_until(lambda: sw.publisher.last_error is not None, 5.0)
            time.sleep(1.0)
            assert not sw.publisher.connected
            assert sw.ledger.pending_count() == 1
            error = sw.publisher.last_error
    assert error is not None and "certificate verify failed" in error, error
    assert f"{HOST}:{broker.port}" in error and "mqtt.tls.ca_file" in error


def test_plain_mqtt_to_a_tls_port_says_so(tmp_path: Path) -> None:
    tls = make_server_tls(tmp_path / "pki")
    with (
        mosquitto(tmp_path, tls=tls) as broker,
        sitewatch(tmp_path, broker_settings(broker.port)) as sw,
    ):
        assert wait_until(lambda: sw.publisher.last_error is not None, 5.0)
        assert not sw.publisher.connected
        assert "closed the connection without answering" in (sw.publisher.last_error or "")


def test_a_publish_the_broker_refuses_stays_in_the_outbox_until_allowed(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic read #\n")  # anonymous clients may subscribe, not publish
    with (
        mosquitto(tmp_path, acl_file=acl) as broker,
        consumer(broker) as inbox,
        sitewatch(tmp_path, broker_settings(broker.port)) as sw,
    ):
        assert wait_until(lambda: sw.publisher.connected, 10.0), sw.publisher.last_error
        record(sw.service, range(3))
        assert wait_until(lambda: sw.publisher.last_error is not None, 5.0)
        assert "Not authorized" in (sw.publisher.last_error or "")
        assert sw.ledger.pending_count() == 3 and not inbox.event_ids()

        acl.write_text("topic readwrite #\n")
        os.kill(broker.pid, signal.SIGHUP)  # mosquitto reloads its ACL
        assert wait_until(lambda: sw.ledger.pending_count() == 0, 10.0), sw.publisher.last_error
        assert wait_until(lambda: len(inbox.event_ids()) == 3, 5.0)
        assert wait_until(lambda: sw.publisher.last_error is None, 2.0), sw.publisher.last_error
        assert_complete_and_ordered(inbox, sw.ledger, 3)


def test_a_broker_without_mqtt_5_gets_3_1_1(tmp_path: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker(HOST, port)  # amqtt speaks MQTT 3.1.1 only
    broker.start()
    try:
        info = BrokerInfo(port=port, pid=0, config_path=tmp_path, log_path=tmp_path)
        with consumer(info) as inbox, sitewatch(tmp_path, broker_settings(port)) as sw:
            record(sw.service, range(3))
            assert wait_until(lambda: len(inbox.event_ids()) == 3, 15.0), sw.publisher.last_error
            assert sw.publisher.protocol == "3.1.1"
    finally:
        broker.stop()


def test_mosquitto_gets_mqtt_5(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as broker, sitewatch(tmp_path, broker_settings(broker.port)) as sw:
        record(sw.service, range(1))
        assert wait_until(lambda: sw.ledger.pending_count() == 0, 10.0), sw.publisher.last_error
        assert sw.publisher.protocol == "5"
