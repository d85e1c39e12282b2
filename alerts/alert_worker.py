"""The alert service's own thread: the analysis loop hands it observations and goes on.

Storing an alert encodes its snapshots (JPEG, annotated copies), writes them and commits the
ledger transaction; on the analysis thread that held every camera's next frame up. The worker
applies what it is given in order (one queue, one thread), so each incident's start, updates and
end keep their order and the ``new`` event still carries its snapshots. The queue is bounded:
when the disk is so slow that it fills, the analysis loop waits for room rather than drop an
observation.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from alerts.model import Alert
from alerts.service import AlertService
from detect.observations import Observation

log = logging.getLogger(__name__)

QUEUE_LIMIT = 256  # observations waiting; beyond it ``submit`` waits (backpressure, no loss)


@dataclass(frozen=True, slots=True)
class _Observed:
    observation: Observation
    image: npt.NDArray[np.uint8] | None


@dataclass(frozen=True, slots=True)
class _Flush:
    at: float  # observation time: publish held updates quiet since before it


class AlertWorker(threading.Thread):
    """Applies observations to ``service`` in the order submitted; drains what is queued when
    ``stop`` is set, then ends."""

    def __init__(
        self, service: AlertService, stop: threading.Event, limit: int = QUEUE_LIMIT
    ) -> None:
        super().__init__(name="alerts", daemon=True)
        self._service = service
        self._stop_event = stop
        self._queue: queue.Queue[_Observed | _Flush] = queue.Queue(maxsize=limit)
        self.applied = 0

    def submit(self, observation: Observation, image: npt.NDArray[np.uint8] | None) -> None:
        """Queue one observation with the frame it was made on (the frame is not copied: the
        analysis loop never writes into a frame it has handed on)."""
        self._queue.put(_Observed(observation, image))

    def flush(self, at: float) -> None:
        """Queue the publication of rate-limited updates due by observation time ``at``."""
        self._queue.put(_Flush(at))

    def open_alerts(self) -> list[Alert]:
        """The service's incidents not yet ended."""
        return self._service.open_alerts()

    @property
    def queued(self) -> int:
        """Items waiting."""
        return self._queue.qsize()

    def run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop_event.is_set():
                    return
                continue
            self._apply(item)

    def _apply(self, item: _Observed | _Flush) -> None:
        try:
            if isinstance(item, _Flush):
                self._service.flush_updates(item.at)
            else:
                self._service.handle(item.observation, item.image)
                self.applied += 1
        except (ValueError, OSError, sqlite3.Error, cv2.error) as error:  # the worker goes on
            log.exception("alert service failed on %s: %s", item, error)
