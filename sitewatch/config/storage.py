"""Where evidence and the ledger live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from sitewatch.config.base import Section


class Storage(Section):
    """Data directory, retention and disk quota."""

    data_dir: Path = Field(
        default=Path("data"), description="Ledger, snapshots, clips (relative to the config file)."
    )
    retention_days: int = Field(default=90, ge=1, le=3650)
    disk_quota_gb: float = Field(default=20.0, gt=0)
