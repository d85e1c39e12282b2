"""Escalation: a thread that moves assigned cases whose deadline passed to ``escalated``."""

from __future__ import annotations

import logging
import sqlite3
import threading

from alerts.cases import CaseService

log = logging.getLogger(__name__)


class EscalationWorker(threading.Thread):
    """Checks deadlines at start and then every ``interval_s`` until ``stop``."""

    def __init__(self, cases: CaseService, stop: threading.Event, interval_s: float = 15.0) -> None:
        super().__init__(name="escalation", daemon=True)
        self._cases = cases
        self._stop_event = stop
        self._interval_s = interval_s
        self.escalated = 0
        self.failures = 0

    def run(self) -> None:
        """Escalate overdue cases until stop; a failed pass is logged and retried next time."""
        while True:
            try:
                for outcome in self._cases.escalate_overdue():
                    self.escalated += 1
                    log.warning(
                        "case %s escalated: deadline passed (owner %s)",
                        outcome.alert.alert_id,
                        outcome.case.owner,
                    )
            except sqlite3.Error as error:
                self.failures += 1
                log.error("escalation check failed (retrying): %s", error)
            if self._stop_event.wait(self._interval_s):
                return
