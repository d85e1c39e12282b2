"""Turns rule observations into stored alerts, events, evidence and outbox messages.

The alert is stored and published first: a snapshot the disk refuses (full, or below the
evidence floor of ``alerts.disk_space``) is recorded as missing with the reason, kept in memory
and written later (``retry_missing``), announced then by an ``update`` event that carries it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from ulid import ULID

from alerts.clip_recorder import ClipReady
from alerts.contract import Topics, event_payload
from alerts.disk_space import DiskGuard, is_disk_full
from alerts.evidence import annotate, encode_jpeg, jpeg_evidence, write_atomically
from alerts.evidence_expected import Expected, Status
from alerts.ledger import Ledger
from alerts.lifecycle import decide
from alerts.model import Alert, AlertChange, EventType, Evidence, EvidenceKind
from detect.observations import Observation

log = logging.getLogger(__name__)
_T = TypeVar("_T")
PENDING_LIMIT_BYTES = 64_000_000  # refused snapshots kept in memory for a retry


@dataclass(frozen=True, slots=True)
class PendingFile:
    """An evidence file the disk refused, kept to be written when space returns."""

    alert_id: str
    evidence: Evidence
    data: bytes
    reason: str


class ClipSink(Protocol):
    """Where the service sends the start and end of each incident's clip."""

    def begin(
        self, alert_id: str, camera: str, started_at: float, first_part: int = 1
    ) -> int | None:
        """Start (or continue) the clip of an alert; the part recorded, None for none."""

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
        disk: DiskGuard | None = None,
        clips: ClipSink | None = None,
    ) -> None:
        self._ledger = ledger
        self._disk = disk
        self._pending: list[PendingFile] = []  # refused snapshots, oldest first
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
        self.clips = clips  # records each alert's clip (None: no clips)
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
            missing: list[Expected] = []
            if image is not None:
                change = self._with_snapshots(change, observation, image, missing)
            if not missing and self._rate_limited(change):
                self._hold(change)
                return change
            change = self._store(change, missing)
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

    def clip_missing(self, alert_id: str, part: int, reason: str) -> None:
        """A clip part could not be written (a full disk): recorded with the reason."""
        item = Expected(alert_id, EvidenceKind.CLIP, part, Status.MISSING, reason)
        self._ledger_write(lambda: self._ledger.expect_evidence(item, self._clock()))

    def resume_clips(self, now: float) -> int:
        """After a restart: every incident still open records a new clip part (the recording
        of the previous run ended with the process); returns how many started."""
        started = 0
        for alert in self.open_alerts():
            if self.clips is None:
                break
            part = self.clips.begin(
                alert.alert_id, alert.camera, now, self._ledger.next_clip_part(alert.alert_id)
            )
            if part:
                self._expect_clip(alert.alert_id, part)
                started += 1
                log.info("alert %s is still open: recording clip part %d", alert.alert_id, part)
        return started

    @property
    def pending_files(self) -> int:
        """Refused evidence files waiting in memory for space."""
        with self._lock:
            return len(self._pending)

    def retry_missing(self) -> int:
        """Write the refused files while space allows and announce each alert's (``update``);
        returns how many were written."""
        written = 0
        with self._lock:
            while self._pending:
                first = self._pending[0]
                batch = [p for p in self._pending if p.alert_id == first.alert_id]
                try:
                    for item in batch:
                        self._write_file(item.evidence, item.data)
                except OSError as error:
                    log.debug("evidence retry for alert %s: %s", first.alert_id, error)
                    return written
                self._pending = [p for p in self._pending if p.alert_id != first.alert_id]
                alert = self._current(first.alert_id)
                if alert is None:
                    continue
                files = [p.evidence for p in batch]
                self._store(AlertChange(EventType.UPDATE, alert, alert.with_evidence(*files)))
                written += len(batch)
                log.info(
                    "alert %s: wrote %s after the disk had refused it",
                    first.alert_id,
                    ", ".join(f.name for f in files),
                )
        return written

    def _current(self, alert_id: str) -> Alert | None:
        """The alert as it is now (caller holds the lock)."""
        found = next((a for a in self._open.values() if a.alert_id == alert_id), None)
        return found if found is not None else self._ledger.alert(alert_id)

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

    def _store(self, change: AlertChange, missing: Sequence[Expected] = ()) -> AlertChange:
        """Ledger row, event and outbox message in one transaction (caller holds the lock);
        returns the change as stored (with the case's current workflow state)."""
        self._held.pop(change.after.alert_id, None)
        event_id = self._new_id()
        now = self._clock()

        def payload(stored: AlertChange) -> str:
            return event_payload(event_id, stored, self._topics.site, now, self._base_url)

        topic = self._topics.alerts
        change = self._ledger_write(
            lambda: self._ledger.record(change, event_id, now, topic, payload, missing)
        )
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
        self,
        change: AlertChange,
        obs: Observation,
        image: npt.NDArray[np.uint8],
        missing: list[Expected],
    ) -> AlertChange:
        """Snapshots at the start and whenever the score reaches a new peak; a file the disk
        refuses goes to ``missing`` (and is kept for a retry) instead of failing the alert."""
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
            data = encode_jpeg(picture)
            item = jpeg_evidence(alert.alert_id, kind, data)
            try:
                self._write_file(item, data)
            except OSError as error:
                reason = self._refused(item, data, error)
                missing.append(Expected(alert.alert_id, kind, item.part, Status.MISSING, reason))
                continue
            files.append(item)
        return replace(change, after=alert.with_evidence(*files))

    def _write_file(self, item: Evidence, data: bytes) -> None:
        """Write one evidence file if the disk has room for it (OSError when not)."""
        if self._disk is not None:
            self._disk.check(len(data))
        try:
            write_atomically(self._data_dir / item.path, data)
        except OSError as error:
            if is_disk_full(error) and self._disk is not None:
                self._disk.release_reserve()  # something else filled the disk
            raise

    def _refused(self, item: Evidence, data: bytes, error: OSError) -> str:
        """Keep a refused file for a retry (within PENDING_LIMIT_BYTES); the reason."""
        alert_id = item.path.split("/")[1]
        reason = str(error) if self._disk is None else self._disk.describe()
        if not is_disk_full(error):
            reason = f"cannot write {item.name}: {error}"
        kept = sum(len(p.data) for p in self._pending)
        if kept + len(data) <= PENDING_LIMIT_BYTES:
            self._pending.append(PendingFile(alert_id, item, data, reason))
        else:
            reason += " (too many refused files to keep for a retry: lost)"
        log.error("alert %s: %s not written: %s", alert_id, item.name, reason)
        return reason

    def _ledger_write(self, write: Callable[[], _T]) -> _T:
        """Run a ledger write; a full disk releases the reserve and the write goes again."""
        try:
            return write()
        except sqlite3.OperationalError as error:
            if not is_disk_full(error) or self._disk is None or not self._disk.release_reserve():
                raise
            return write()

    def _expect_clip(self, alert_id: str, part: int) -> None:
        item = Expected(alert_id, EvidenceKind.CLIP, part, Status.RECORDING)
        self._ledger_write(lambda: self._ledger.expect_evidence(item, self._clock()))

    def _follow_with_clip(self, change: AlertChange) -> None:
        if self.clips is None:
            return
        alert, before = change.after, change.before
        part: int | None = None
        if change.type is EventType.NEW:
            part = self.clips.begin(alert.alert_id, alert.camera, alert.started_at)
        elif before is not None and not before.active and alert.active:  # reopened
            parts = [e.part for e in alert.evidence if e.kind is EvidenceKind.CLIP]
            part = self.clips.begin(
                alert.alert_id, alert.camera, alert.updated_at, max(parts, default=0) + 1
            )
        elif change.type is EventType.END and alert.ended_at is not None:
            self.clips.end(alert.alert_id, alert.ended_at)
        if part:
            self._expect_clip(alert.alert_id, part)
