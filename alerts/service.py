"""Turns rule observations into stored alerts, events, evidence and outbox messages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from ulid import ULID

from alerts.clip_recorder import ClipReady
from alerts.contract import Topics, event_payload
from alerts.evidence import annotate, save_jpeg
from alerts.ledger import Ledger
from alerts.lifecycle import decide
from alerts.model import Alert, AlertChange, EventType, Evidence, EvidenceKind
from detect.observations import Observation

log = logging.getLogger(__name__)


class ClipSink(Protocol):
    """Where the service sends the start and end of each incident's clip."""

    def begin(self, alert_id: str, camera: str, started_at: float, first_part: int = 1) -> bool:
        """Start (or continue) the clip of an alert."""

    def end(self, alert_id: str, ended_at: float) -> None:
        """The incident ended: finish after the post-roll."""


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
        min_update_interval_s: float = 5.0,
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
        self.clips: ClipSink | None = None
        self._min_update_interval_s = min_update_interval_s
        # alert_id -> observation time of its last stored event (rate limit of updates)
        self._last_stored: dict[str, float] = {}
        self._held: dict[str, AlertChange] = {}  # rate-limited updates not yet published

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
            if image is not None:
                change = self._with_snapshots(change, observation, image)
            if self._rate_limited(change):
                self._hold(change)
                return change
            change = self._store(change)
        self._follow_with_clip(change)
        log.info(
            "alert %s %s: %s on %s/%s (score %.2f)",
            change.type.value,
            change.after.alert_id,
            change.after.hazard,
            change.after.camera,
            change.after.zone,
            change.after.score,
        )
        return change

    def clip_ready(self, ready: ClipReady) -> None:
        """Record a finished clip part and announce it (``clip_ready``)."""
        with self._lock:
            alert = next((a for a in self._open.values() if a.alert_id == ready.alert_id), None)
            if alert is None:
                alert = self._ledger.alert(ready.alert_id)
            if alert is None:
                log.error("clip for unknown alert %s dropped", ready.alert_id)
                return
            clip = replace(
                ready.evidence,
                kind=EvidenceKind.CLIP,
                part=ready.part,
                covers=(ready.started_at, ready.ended_at),
            )
            change = AlertChange(EventType.CLIP_READY, alert, alert.with_evidence(clip))
            self._store(change)

    def flush_updates(self, now: float) -> int:
        """Publish held updates whose quiet interval has passed by ``now`` (observation
        time); returns how many."""
        with self._lock:
            due = [
                change
                for alert_id, change in self._held.items()
                if now - self._last_stored.get(alert_id, 0.0) >= self._min_update_interval_s
            ]
            for change in due:
                current = self._open.get(change.after.key)
                if current is not None and current.alert_id == change.after.alert_id:
                    self._store(replace(change, after=current))
        return len(due)

    def _rate_limited(self, change: AlertChange) -> bool:
        """Updates of score or details at most every ``min_update_interval_s`` per alert;
        severity changes, reopenings and new snapshots always go out."""
        before = change.before
        if change.type is not EventType.UPDATE or before is None or not before.active:
            return False
        if change.after.severity != before.severity or change.after.evidence != before.evidence:
            return False
        last = self._last_stored.get(change.after.alert_id)
        return last is not None and change.after.updated_at - last < self._min_update_interval_s

    def _hold(self, change: AlertChange) -> None:
        """Keep the newest state in memory; the next stored event of the alert carries it."""
        alert_id = change.after.alert_id
        held = self._held.get(alert_id)
        self._held[alert_id] = change if held is None else replace(held, after=change.after)
        self._open[change.after.key] = change.after

    def _store(self, change: AlertChange) -> AlertChange:
        """Ledger row, event and outbox message in one transaction (caller holds the lock);
        returns the change as stored (with the case's current workflow state)."""
        self._held.pop(change.after.alert_id, None)
        event_id = self._new_id()
        now = self._clock()

        def payload(stored: AlertChange) -> str:
            return event_payload(event_id, stored, self._topics.site, now, self._base_url)

        change = self._ledger.record(change, event_id, now, self._topics.alerts, payload)
        self._last_stored[change.after.alert_id] = change.after.updated_at
        key = change.after.key
        open_now = self._open.get(key)
        # A late event of an older alert (the clip of an ended incident finishing after a new
        # incident of the same zone opened) must not replace or close the open one.
        if open_now is None or open_now.alert_id == change.after.alert_id:
            if change.after.active:
                self._open[key] = change.after
            else:
                self._open.pop(key, None)
        if not change.after.active:
            self._last_stored.pop(change.after.alert_id, None)
        self.recorded.set()
        return change

    def _with_snapshots(
        self, change: AlertChange, obs: Observation, image: npt.NDArray[np.uint8]
    ) -> AlertChange:
        """Snapshots at the start and whenever the score reaches a new peak."""
        before = change.before
        if change.type is EventType.NEW:
            kinds = (EvidenceKind.SNAPSHOT, EvidenceKind.SNAPSHOT_ANNOTATED)
        elif before is not None and obs.score > before.peak_score:
            kinds = (EvidenceKind.PEAK, EvidenceKind.PEAK_ANNOTATED)
        else:
            return change
        alert = change.after
        caption = (
            f"{alert.hazard.replace('_', ' ').upper()} {obs.score:.0%}  {alert.camera}/{alert.zone}"
        )
        files: list[Evidence] = []
        for kind in kinds:
            picture = (
                image
                if kind in (EvidenceKind.SNAPSHOT, EvidenceKind.PEAK)
                else annotate(image, obs.outline, obs.boxes, caption)
            )
            files.append(save_jpeg(self._data_dir, alert.alert_id, kind, picture))
        return replace(change, after=alert.with_evidence(*files))

    def _follow_with_clip(self, change: AlertChange) -> None:
        if self.clips is None:
            return
        alert, before = change.after, change.before
        if change.type is EventType.NEW:
            self.clips.begin(alert.alert_id, alert.camera, alert.started_at)
        elif before is not None and not before.active and alert.active:  # reopened
            parts = [e.part for e in alert.evidence if e.kind is EvidenceKind.CLIP]
            self.clips.begin(
                alert.alert_id, alert.camera, alert.updated_at, max(parts, default=0) + 1
            )
        elif change.type is EventType.END and alert.ended_at is not None:
            self.clips.end(alert.alert_id, alert.ended_at)
