"""Turns rule observations into stored alerts, events and outbox messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from ulid import ULID

from alerts.contract import Topics, event_payload
from alerts.evidence import save_snapshot
from alerts.ledger import Ledger
from alerts.lifecycle import decide
from alerts.model import Alert, AlertChange, EventType
from detect.observations import Observation

log = logging.getLogger(__name__)


def new_ulid() -> str:
    """A time-sortable unique id."""
    return str(ULID())


class AlertService:
    """One alert per incident, each change stored with its outbox message in one transaction."""

    def __init__(
        self,
        ledger: Ledger,
        topics: Topics,
        data_dir: Path,
        evidence_base_url: str,
        cooldowns: Mapping[str, float],
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_ulid,
        recorded: threading.Event | None = None,
    ) -> None:
        self._ledger = ledger
        self._topics = topics
        self._data_dir = data_dir
        self._base_url = evidence_base_url
        self._cooldowns = dict(cooldowns)
        self._clock = clock
        self._new_id = new_id
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], Alert] = {a.key: a for a in ledger.open_alerts()}
        # Set after each stored event (wakes the publisher).
        self.recorded = recorded if recorded is not None else threading.Event()

    def open_alerts(self) -> list[Alert]:
        """Incidents not yet ended (including those carried over from before a restart)."""
        with self._lock:
            return list(self._open.values())

    def handle(
        self, observation: Observation, image: npt.NDArray[np.uint8] | None
    ) -> AlertChange | None:
        """Apply one observation; returns the stored change, if any."""
        key = (observation.camera, observation.zone, observation.hazard.value)
        with self._lock:
            current = self._open.get(key)
            last = self._ledger.last_ended(*key) if current is None else None
            change = decide(
                current,
                last,
                observation,
                self._cooldowns.get(observation.hazard.value, 0.0),
                self._new_id,
            )
            if change is None:
                return None
            if change.type is EventType.NEW and image is not None:
                snapshot = save_snapshot(self._data_dir, change.after.alert_id, image)
                change = replace(change, after=replace(change.after, snapshot=snapshot))
            event_id = self._new_id()
            now = self._clock()
            payload = event_payload(event_id, change, self._topics.site, now, self._base_url)
            self._ledger.record(change, event_id, now, self._topics.alerts, payload)
            if change.after.active:
                self._open[key] = change.after
            else:
                self._open.pop(key, None)
        log.info(
            "alert %s %s: %s on %s/%s (score %.2f)",
            change.type.value,
            change.after.alert_id,
            change.after.hazard,
            change.after.camera,
            change.after.zone,
            change.after.score,
        )
        self.recorded.set()
        return change
