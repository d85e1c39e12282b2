"""Evidence the disk refused, written once space returns: the service's kept snapshots, clip
recordings cut short by a full disk, and the ledger's reserve file."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from pathlib import Path

from alerts.clip_recorder import ClipReady
from alerts.clip_recovery import MissingSink, recover_clips
from alerts.disk_space import DiskGuard
from alerts.ledger import Ledger

log = logging.getLogger(__name__)


class EvidenceRetry(threading.Thread):
    """Every ``interval_s``: when the disk has room again, write what it refused."""

    def __init__(
        self,
        disk: DiskGuard,
        ledger: Ledger,
        retry_files: Callable[[], int],
        register_clip: Callable[[ClipReady], None],
        clip_missing: MissingSink,
        stranded: Callable[[], Collection[Path]],
        stop: threading.Event,
        interval_s: float = 2.0,
    ) -> None:
        super().__init__(name="evidence-retry", daemon=True)
        self._disk = disk
        self._ledger = ledger
        self._retry_files = retry_files
        self._register_clip = register_clip
        self._clip_missing = clip_missing
        self._stranded = stranded
        self._stop_event = stop
        self._interval_s = interval_s

    def run(self) -> None:
        """Retry until stop."""
        while not self._stop_event.wait(self._interval_s):
            try:
                self.retry_once()
            except OSError as error:
                log.error("evidence retry failed: %s", error)

    def retry_once(self) -> None:
        """One pass (nothing to do while the disk is still too full)."""
        if not self._disk.has_room():
            return
        self._retry_files()
        stranded = [path for path in self._stranded() if path.is_file()]
        if stranded:
            recover_clips(
                self._disk.data_dir,
                self._ledger,
                self._register_clip,
                self._clip_missing,
                stranded,
                self._disk,
            )
        self._disk.ensure_reserve()
