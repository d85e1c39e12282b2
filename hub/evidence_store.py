"""Where the hub keeps evidence: an interface (``EvidenceStore``) with a directory
implementation. Keys are ``<site>/<alert_id>/<file name>``; an S3-compatible object store fits
the same three calls (put with the SHA-256 as its checksum, open, exists)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

KEY_PATTERN = re.compile(
    r"^[a-z0-9][a-z0-9_-]{0,62}/[0-9A-HJKMNP-TV-Z]{26}/[A-Za-z0-9][A-Za-z0-9._-]{0,100}$"
)


class EvidenceStore(Protocol):
    """What the hub needs from evidence storage."""

    def put(self, key: str, data: bytes, sha256: str) -> None:
        """Store ``data`` under ``key`` atomically (the digest was checked by the caller)."""
        ...

    def path(self, key: str) -> Path | None:
        """A local file to serve for ``key`` (None when not stored)."""
        ...

    def exists(self, key: str) -> bool:
        """True when ``key`` is stored."""
        ...


def evidence_key(site: str, alert_id: str, name: str) -> str:
    """The key of one file (ValueError for names that could escape the layout)."""
    key = f"{site}/{alert_id}/{name}"
    if not KEY_PATTERN.fullmatch(key) or ".." in name:
        raise ValueError(f"not an evidence key: {key[:120]!r}")
    return key


class DirectoryStore:
    """Files under one folder, written to a temporary name, synced, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, data: bytes, sha256: str) -> None:
        """Write atomically; refuses data that does not match ``sha256``."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"{key}: the data does not match its SHA-256")
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def path(self, key: str) -> Path | None:
        """The stored file, or None."""
        target = self._file(key)
        return target if target.is_file() else None

    def exists(self, key: str) -> bool:
        """True when the file is there."""
        return self._file(key).is_file()

    def _file(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise ValueError(f"not an evidence key: {key[:120]!r}")
        return self.root / key
