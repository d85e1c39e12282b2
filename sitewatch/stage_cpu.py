"""CPU seconds each stage of the analysis spends, measured on the thread that runs it.

``time.thread_time()`` around a stage counts only the calling thread's CPU, so waiting for a
lock, the GIL or the other core is not charged to the stage. The figures go to /api/health
(``analysis_stage_cpu_s``) and ``bench.pipeline`` prints them per camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageCpu:
    """Accumulated thread CPU seconds per stage name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Charge the calling thread's CPU inside the block to ``stage``."""
        started = time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.thread_time() - started)

    def add(self, stage: str, seconds: float) -> None:
        """Charge ``seconds`` to ``stage``."""
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + seconds

    def figures(self) -> dict[str, float]:
        """Seconds per stage so far."""
        with self._lock:
            return {stage: round(seconds, 3) for stage, seconds in self._seconds.items()}
