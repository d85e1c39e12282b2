"""Evidence retention: by age and by disk quota, oldest first, never for open cases.

The ledger keeps every alert and evidence row; a removed file's row records when it went.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alerts.ledger import Ledger
from alerts.model import Alert, Evidence

log = logging.getLogger(__name__)
CLOSED_STATES = frozenset({"closed", "false_positive"})
DAY_S = 86_400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """How long and how much evidence is kept."""

    max_age_days: float
    quota_bytes: int


@dataclass(frozen=True)
class RetentionReport:
    """What one pass did."""

    removed_files: int
    freed_bytes: int
    kept_bytes: int
    over_quota_bytes: int  # still over the quota because only open cases are left


def removable(alert: Alert) -> bool:
    """Evidence of a case may go once the incident ended and the case is closed."""
    return not alert.active and alert.workflow_state in CLOSED_STATES


def prune(ledger: Ledger, data_dir: Path, policy: RetentionPolicy, now: float) -> RetentionReport:
    """Remove expired evidence, then the oldest removable evidence until under the quota."""
    files = ledger.evidence_files()  # oldest alert first
    sizes = {(a.alert_id, e.name): _size(data_dir / e.path) for a, e in files}
    total = sum(sizes.values())
    removed = freed = 0
    cutoff = now - policy.max_age_days * DAY_S
    for alert, item in files:
        expired = (alert.ended_at or alert.started_at) < cutoff
        over_quota = total > policy.quota_bytes
        if not removable(alert) or not (expired or over_quota):
            continue
        size = sizes[(alert.alert_id, item.name)]
        _remove(ledger, data_dir, alert, item, now)
        removed += 1
        freed += size
        total -= size
    over = max(0, total - policy.quota_bytes)
    if over:
        log.warning(
            "evidence is %.1f MB over the disk quota but belongs to open cases: kept",
            over / 1e6,
        )
    if removed:
        log.info("retention removed %d evidence file(s), %.1f MB", removed, freed / 1e6)
    return RetentionReport(removed, freed, total, over)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _remove(ledger: Ledger, data_dir: Path, alert: Alert, item: Evidence, now: float) -> None:
    (data_dir / item.path).unlink(missing_ok=True)
    ledger.mark_evidence_removed(alert.alert_id, item.kind.value, item.part, now)
    folder = (data_dir / item.path).parent
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


class RetentionWorker(threading.Thread):
    """Runs ``prune`` at start and then every ``interval_s``."""

    def __init__(
        self,
        ledger: Ledger,
        data_dir: Path,
        policy: RetentionPolicy,
        stop: threading.Event,
        interval_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="retention", daemon=True)
        self._args = (ledger, data_dir, policy)
        self._stop_event = stop
        self._interval_s = interval_s
        self._clock = clock
        self.last_report: RetentionReport | None = None

    def run(self) -> None:
        """Prune until stop."""
        while True:
            try:
                self.last_report = prune(*self._args, now=self._clock())
            except OSError as error:
                log.error("retention pass failed: %s", error)
            if self._stop_event.wait(self._interval_s):
                return
