"""Clip recordings left behind (a kill -9, a full disk) finished and recorded; orphans swept.

A clip is recorded as a fragmented MP4 (``alerts.clip_writer``), so a partial file plays up to
its last complete fragment. ``recover_clips`` remuxes what each partial holds into the final MP4,
records it in the ledger with its SHA-256 (``register``: the service stores it and publishes
``clip_ready``), and removes what holds nothing playable, recording that clip part as missing
with the reason. ``sweep_orphans`` (at start) removes evidence files and folders the ledger does
not know: nothing refers to them, so retention would never remove them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import av

from alerts.clip_recorder import ClipReady
from alerts.clip_writer import PartialClip, parse_partial, remux_to_mp4
from alerts.disk_space import DiskGuard, is_disk_full
from alerts.evidence_expected import Expected, Status
from alerts.ledger import Ledger
from alerts.model import Evidence, EvidenceKind

log = logging.getLogger(__name__)
MissingSink = Callable[[str, int, str], None]  # (alert_id, part, reason)


@dataclass
class RecoveryReport:
    """What one pass did."""

    recovered: list[str] = field(default_factory=list)  # evidence paths recorded
    removed: list[str] = field(default_factory=list)  # files and folders removed
    waiting: int = 0  # partials left for later (the disk is still full)


def partial_files(data_dir: Path) -> list[Path]:
    """Every clip recording under ``data_dir/evidence``."""
    root = data_dir / "evidence"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("*/.clip*.partial") if p.is_file())


def recover_clips(
    data_dir: Path,
    ledger: Ledger,
    register: Callable[[ClipReady], None],
    on_missing: MissingSink,
    paths: Collection[Path] | None = None,
    disk: DiskGuard | None = None,
) -> RecoveryReport:
    """Finish the recordings ``paths`` (None: every one on disk; only when nothing records)."""
    report = RecoveryReport()
    for path in partial_files(data_dir) if paths is None else sorted(paths):
        if not path.is_file():
            continue
        if disk is not None and not disk.has_room():
            report.waiting += 1
            continue
        found = parse_partial(path)
        alert = ledger.alert(path.parent.name)
        if found is None or alert is None:
            why = "no alert in the ledger" if found is not None else "not a clip recording"
            _remove(path, report, f"orphan clip recording ({why})")
            continue
        if any(e.kind is EvidenceKind.CLIP and e.part == found.part for e in alert.evidence):
            _remove(path, report, "already recorded (the process stopped before removing it)")
            continue
        _recover_one(data_dir, found, register, on_missing, report)
    return report


def _recover_one(
    data_dir: Path,
    found: PartialClip,
    register: Callable[[ClipReady], None],
    on_missing: MissingSink,
    report: RecoveryReport,
) -> None:
    size = found.path.stat().st_size
    target = found.path.with_name(found.final_name)
    try:
        remuxed = remux_to_mp4(found.path, target)
    except (av.error.FFmpegError, ValueError, OSError) as error:
        if is_disk_full(error):
            report.waiting += 1
            log.error("cannot finish %s yet: %s", found.path, error)
            return
        reason = f"the recording held nothing playable ({size} bytes: {error})"
        _remove(found.path, report, f"clip part {found.part} of alert {found.alert_id}: {reason}")
        on_missing(found.alert_id, found.part, reason)
        return
    relative = target.relative_to(data_dir).as_posix()
    ready = ClipReady(
        found.alert_id,
        found.part,
        Evidence(relative, remuxed.sha256, EvidenceKind.CLIP, found.part),
        found.first_wall,
        found.first_wall + remuxed.seconds,
        False,
    )
    register(ready)
    found.path.unlink(missing_ok=True)
    report.recovered.append(relative)
    log.warning(
        "recovered clip %s of alert %s from an unfinished recording: %.1f s, %d packets",
        relative,
        found.alert_id,
        remuxed.seconds,
        remuxed.packets,
    )


def unfinished_recordings(ledger: Ledger, data_dir: Path) -> list[Expected]:
    """Clip parts the ledger says were being recorded but that left no recording (the process
    stopped before the first keyframe was written): they are missing."""
    partials = {
        (parsed.alert_id, parsed.part)
        for p in partial_files(data_dir)
        if (parsed := parse_partial(p)) is not None
    }
    return [
        e
        for e in ledger.expected_evidence()
        if e.kind is EvidenceKind.CLIP
        and e.status is Status.RECORDING
        and (e.alert_id, e.part) not in partials
    ]


def recover_at_start(
    data_dir: Path,
    ledger: Ledger,
    register: Callable[[ClipReady], None],
    on_missing: MissingSink,
    disk: DiskGuard | None = None,
) -> RecoveryReport:
    """Before anything records: parts whose recording never began are missing, partials are
    finished, orphans removed."""
    for item in unfinished_recordings(ledger, data_dir):
        reason = "sitewatch stopped before the first keyframe of this clip part was written"
        on_missing(item.alert_id, item.part, reason)
    report = recover_clips(data_dir, ledger, register, on_missing, disk=disk)
    report.removed += sweep_orphans(ledger, data_dir)
    if report.recovered or report.removed:
        log.warning(
            "evidence recovery: %d clip(s) recovered, %d orphan(s) removed",
            len(report.recovered),
            len(report.removed),
        )
    return report


def sweep_orphans(ledger: Ledger, data_dir: Path) -> list[str]:
    """Remove evidence folders of unknown alerts, and files no evidence row names (left by a
    crash between writing and recording). Call at start, before anything writes evidence."""
    root = data_dir / "evidence"
    report = RecoveryReport()
    if not root.is_dir():
        return []
    for folder in sorted(root.iterdir()):
        alert = ledger.alert(folder.name) if folder.is_dir() else None
        if alert is None:
            _remove(folder, report, "orphan evidence (no alert in the ledger)")
            continue
        known = {e.name for e in alert.evidence}
        for path in sorted(folder.iterdir()):
            if path.name in known or parse_partial(path) is not None:
                continue
            _remove(path, report, "orphan evidence file (no evidence row)")
    return report.removed


def _remove(path: Path, report: RecoveryReport, why: str) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    report.removed.append(path.as_posix())
    log.warning("removed %s: %s", path, why)
