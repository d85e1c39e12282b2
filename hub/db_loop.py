"""The hub's background workers share one loop: each round runs on the worker's own database
connection; a database error is counted, logged and the round retried on a new connection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from hub.metrics import HubMetrics
from hub.store import Db

log = logging.getLogger(__name__)
RETRY_S = 1.0  # wait after a database error


class DbLoop(threading.Thread):
    """Runs ``step`` until ``stop``; ``step`` returns how long to wait before the next round."""

    what = "worker"  # names the worker in the log

    def __init__(
        self, name: str, connect: Callable[[], Db], metrics: HubMetrics, stop: threading.Event
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._connect = connect
        self._metrics = metrics
        self._stop_event = stop

    def step(self, db: Db) -> float:
        """One round of work; the seconds to wait before the next."""
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Wait between rounds (until stop)."""
        self._stop_event.wait(seconds)

    def closing(self) -> None:
        """Release what the worker holds besides its connection (at the end of ``run``)."""

    def run(self) -> None:
        db: Db | None = None
        try:
            while not self._stop_event.is_set():
                try:
                    if db is None or db.closed:
                        db = self._connect()
                    wait = self.step(db)
                except psycopg.Error as error:
                    self._metrics.add("sitewatch_hub_database_errors_total")
                    log.warning("%s: database error (retrying): %s", self.what, str(error).strip())
                    if db is not None:
                        db.close()
                    db = None
                    wait = RETRY_S
                self.pause(wait)
        finally:
            if db is not None:
                db.close()
            self.closing()
