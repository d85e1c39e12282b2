"""``sitewatch hub``: the fleet hub process. It migrates the database, then runs the MQTT
consumer, the gap sync, the evidence fetchers, the command sender, the escalation check and the
HTTP API until SIGINT or SIGTERM. Several processes (each its own ``mqtt.client_id``) share the
work through the shared subscription and PostgreSQL row locks."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import psycopg

from hub.commands import CommandSender, settle_from_event, settle_from_result
from hub.config import HubConfig
from hub.consumer import HubConsumer
from hub.escalation import EscalationLoop
from hub.evidence_fetch import EvidenceFetcher, EvidenceWorker
from hub.evidence_store import DirectoryStore, EvidenceStore
from hub.intake import Event
from hub.metrics import HubMetrics
from hub.migrations import migrate
from hub.store import Db, register_sites
from hub.sync import SyncLoop

log = logging.getLogger(__name__)


def connector(config: HubConfig) -> Callable[[], Db]:
    """Opens a new PostgreSQL connection (transactions explicit, not autocommit)."""
    dsn = config.database.dsn.get_secret_value()
    timeout = config.database.connect_timeout_s

    def connect() -> Db:
        return psycopg.connect(dsn, connect_timeout=timeout)

    return connect


@dataclass
class HubParts:
    """The running pieces (tests and the API look at them)."""

    config: HubConfig
    metrics: HubMetrics
    connect: Callable[[], Db]
    stop: threading.Event
    consumer: HubConsumer
    sync: SyncLoop
    evidence: EvidenceStore
    threads: list[threading.Thread] = field(default_factory=list)
    commands_wake: threading.Event = field(default_factory=threading.Event)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def health(self) -> dict[str, object]:
        """What /healthz says about this process."""
        return {
            "mqtt_connected": self.consumer.connected.is_set(),
            "mqtt_last_error": self.consumer.last_error,
        }


def prepare(config: HubConfig) -> Callable[[], Db]:
    """Migrate the schema and register the configured sites; returns the connector."""
    connect = connector(config)
    with connect() as db:
        migrate(db)
        register_sites(db, [(s.id, config.grid_of(s.id), s.name) for s in config.sites])
    return connect


def build(config: HubConfig, stop: threading.Event) -> HubParts:
    """Every worker, not started."""
    connect = prepare(config)
    metrics = HubMetrics()

    def on_event(db: Db, event: Event) -> None:
        settle_from_event(db, event, metrics)

    def on_result(db: Db, site: str, payload: bytes) -> None:
        settle_from_result(db, site, payload, metrics)

    consumer = HubConsumer(config, connect, metrics, stop, on_result, on_event)
    sync = SyncLoop(config, connect, metrics, stop, on_event)
    store = DirectoryStore(config.evidence.dir)
    parts = HubParts(config, metrics, connect, stop, consumer, sync, store)
    parts.threads.append(
        CommandSender(config, consumer.client, connect, metrics, stop, parts.commands_wake)
    )
    parts.threads.append(EscalationLoop(config, connect, metrics, stop))
    if config.evidence.enabled:
        fetcher = EvidenceFetcher(config, store, metrics)
        parts.closers.append(fetcher.close)
        parts.threads += [
            EvidenceWorker(fetcher, connect, metrics, stop, index)
            for index in range(config.evidence.workers)
        ]
    return parts


def run(config: HubConfig) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    from hub.web.app import create_hub_app, serve

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("hub: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parts = build(config, stop)
    parts.consumer.start()
    parts.sync.start()
    for thread in parts.threads:
        thread.start()
    app = create_hub_app(
        config, parts.metrics, parts.connect, parts.evidence, parts.health, parts.commands_wake.set
    )
    server = serve(app, config.api.host, config.api.port)
    server_thread = threading.Thread(target=server.run, name="hub-api", daemon=True)
    server_thread.start()
    log.info(
        "hub %s: consuming %s/+/alerts as $share/%s; API on http://%s:%d",
        config.mqtt.client_id,
        config.mqtt.topic_prefix,
        config.mqtt.share_group,
        config.api.host,
        config.api.port,
    )
    stop.wait()
    server.should_exit = True
    parts.consumer.join()
    parts.sync.join(5)
    for thread in parts.threads:
        thread.join(5)
    server_thread.join(5)
    for close in parts.closers:
        close()
    return 0
