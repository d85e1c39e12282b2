"""Free space in the data directory: evidence writes stop above a floor, and a reserve file
keeps room for the ledger.

Evidence (snapshots, clips) is refused while less than ``floor_bytes`` are free, so that the
SQLite ledger can still commit the alert that the evidence belongs to. Something else may fill
the disk all the same (another process, a log): a preallocated reserve file of
``reserve_bytes`` is then deleted (``release_reserve``) the moment a write fails with ENOSPC, and
made again once space is back.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
from pathlib import Path

from core.errors import SitewatchError

log = logging.getLogger(__name__)
RESERVE_NAME = ".sitewatch-reserve"
MB = 1_000_000


class DiskFullError(SitewatchError, OSError):
    """Not enough free space for evidence; the message says how much is free and where."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def is_disk_full(error: BaseException) -> bool:
    """True for ENOSPC (and EDQUOT) from the OS, PyAV or SQLite."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    number = getattr(error, "errno", None)
    if number in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "database or disk is full" in str(error) or "No space left" in str(error)


class DiskGuard:
    """Checks free space before evidence is written and keeps the ledger's reserve."""

    def __init__(self, data_dir: Path, floor_bytes: int, reserve_bytes: int) -> None:
        self.data_dir = data_dir
        self.floor_bytes = floor_bytes
        self.reserve_bytes = reserve_bytes
        self._lock = threading.Lock()
        self._full_logged = False

    @property
    def reserve_path(self) -> Path:
        """The reserve file."""
        return self.data_dir / RESERVE_NAME

    def free_bytes(self) -> int:
        """Bytes free for this process in the data directory."""
        return shutil.disk_usage(self.data_dir).free

    def describe(self, free: int | None = None) -> str:
        """``disk full: 1.5 MB free in /path``."""
        free = self.free_bytes() if free is None else free
        return f"disk full: {free / MB:.1f} MB free in {self.data_dir}"

    def check(self, needed_bytes: int = 0) -> None:
        """Raise DiskFullError when writing ``needed_bytes`` of evidence would leave less than the
        floor free (logged once per full spell)."""
        free = self.free_bytes()
        if free - needed_bytes >= self.floor_bytes:
            if self._full_logged:
                self._full_logged = False
                log.info("disk space is back: %.1f MB free in %s", free / MB, self.data_dir)
            return
        message = (
            f"{self.describe(free)} (evidence is written only while "
            f"{self.floor_bytes / MB:.1f} MB stay free for the ledger)"
        )
        if not self._full_logged:
            self._full_logged = True
            log.error("%s", message)
        raise DiskFullError(message)

    def has_room(self) -> bool:
        """True when evidence may be written again."""
        return self.free_bytes() >= self.floor_bytes

    def ensure_reserve(self) -> bool:
        """Create the reserve file if it is absent and there is room above the floor for it;
        True when it exists afterwards."""
        if self.reserve_bytes <= 0:
            return False
        with self._lock:
            path = self.reserve_path
            if path.exists() and path.stat().st_size >= self.reserve_bytes:
                return True
            if self.free_bytes() < self.floor_bytes + self.reserve_bytes:
                return False
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    os.posix_fallocate(fd, 0, self.reserve_bytes)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as error:
                path.unlink(missing_ok=True)
                log.warning("cannot make the %s reserve file: %s", path, error)
                return False
            log.info("kept %.1f MB in %s in reserve for the ledger", self.reserve_bytes / MB, path)
            return True

    def release_reserve(self) -> bool:
        """Delete the reserve file (the disk is full): True when there was one."""
        with self._lock:
            path = self.reserve_path
            if not path.exists():
                return False
            before = self.describe()
            path.unlink()
            log.error(
                "%s: released the %.1f MB reserve so that the ledger can commit",
                before,
                self.reserve_bytes / MB,
            )
            return True
