"""A stand-in sitewatch process for the delivery tests: records a burst of alert events through
AlertService + Ledger while MqttPublisher drains the outbox, then waits until it is empty.

Run it again on the same ledger after a crash and it continues where it left off: the next
observation is chosen by how many events the ledger already holds, so the lifecycle of every
alert stays consistent (START, UPDATEs, END, then a new alert in the same zone).

    python tests/delivery_burst.py --ledger L --host H --port P --events N [--rate R]
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
import time
from pathlib import Path

from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.mqtt_publisher import BrokerSettings, MqttPublisher
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase

TOPICS = Topics("sitewatch", "delivery")
EVIDENCE_URL = "http://127.0.0.1:8080"
ZONES = 8
ALERT_LENGTH = 5  # events per alert: new, 3 updates, end
FIRST_TIME = 1_700_000_000.0

log = logging.getLogger("delivery_burst")


def observation(index: int, zones: int = ZONES, length: int = ALERT_LENGTH) -> Observation:
    """The ``index``-th observation of the burst; each one makes exactly one event."""
    step = (index // zones) % length
    if step == 0:
        phase = Phase.START
    elif step == length - 1:
        phase = Phase.END
    else:
        phase = Phase.UPDATE
    zone = f"zone-{index % zones}"
    score = 0.5 + step / 100
    return Observation("dock", zone, Hazard.BLOCKED_EXIT, phase, FIRST_TIME + index, score)


def new_service(ledger: Ledger, data_dir: Path, wake: threading.Event) -> AlertService:
    """An AlertService without cooldown, so an ended zone's next START opens a new alert."""
    return AlertService(
        ledger, TOPICS, data_dir, EVIDENCE_URL, {"blocked_exit": 0.0}, recorded=wake
    )


def stored_event_count(ledger_path: Path) -> int:
    """Events already in the ledger (0 when it does not exist yet); reads without writing."""
    try:
        with sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error:
        return 0


def record_burst(service: AlertService, first: int, last: int, rate: float) -> None:
    """Handle observations ``first`` .. ``last - 1`` at ``rate`` per second."""
    started = time.monotonic()
    for index in range(first, last):
        if service.handle(observation(index), None) is None:
            raise RuntimeError(f"observation {index} made no event")
        lag = started + (index - first + 1) / rate - time.monotonic()
        if lag > 0:
            time.sleep(lag)


def wait_drained(ledger: Ledger, timeout_s: float) -> bool:
    """True once the outbox is empty."""
    deadline = time.monotonic() + timeout_s
    while ledger.pending_count() > 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, required=True, help="total events in the ledger")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--client-id", default="sitewatch-delivery-burst")
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Record the missing events, drain the outbox, exit 0 (1 if it did not drain in time)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    already = stored_event_count(args.ledger)
    ledger = Ledger(args.ledger)
    stop, wake = threading.Event(), threading.Event()
    settings = BrokerSettings(args.host, args.port, args.client_id, reconnect_max_s=2)
    publisher = MqttPublisher(settings, ledger, TOPICS, stop, wake)
    publisher.start()
    log.info("%d event(s) stored before; recording up to %d", already, args.events)
    record_burst(new_service(ledger, args.ledger.parent, wake), already, args.events, args.rate)
    drained = wait_drained(ledger, args.drain_timeout)
    log.info("drained: %s, %d delivered by this run", drained, publisher.delivered)
    stop.set()
    publisher.join(10.0)
    ledger.close()
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
