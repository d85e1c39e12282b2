"""Where evidence and the ledger live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.config_files import Section


class Storage(Section):
    """Data directory, retention and disk quota."""

    data_dir: Path = Field(
        default=Path("data"), description="Ledger, snapshots, clips (relative to the config file)."
    )
    retention_days: int = Field(default=90, ge=1, le=3650)
    disk_quota_gb: float = Field(default=20.0, gt=0)
    min_free_mb: float = Field(
        default=64.0,
        ge=0,
        description="Evidence is written only while this much stays free in data_dir (room for "
        "the ledger); what a full disk refuses is recorded missing and written once space "
        "returns.",
    )
    reserve_mb: float = Field(
        default=16.0,
        ge=0,
        description="A file of this size kept in data_dir and deleted when the disk fills, so "
        "that the ledger can still commit (0: none).",
    )


class EvidenceClips(Section):
    """Clip lengths around each incident."""

    pre_roll_s: float = Field(
        default=5.0, ge=0, le=120, description="Seconds before the alert (from the packet ring)."
    )
    post_roll_s: float = Field(default=10.0, ge=0, le=600, description="Seconds after the end.")
    max_clip_s: float = Field(
        default=120.0, ge=10, le=3600, description="Longer incidents continue in a new part."
    )
