"""Whole-ledger checks for auditors: the audit chain and, optionally, every kept evidence file
against the digest recorded when it was captured."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts import audit
from alerts.ledger import Ledger

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """The chain report and the evidence files that do not match their records."""

    chain: audit.ChainReport
    evidence_checked: int
    evidence_problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the chain holds and every checked file matches."""
        return self.chain.ok and not self.evidence_problems

    def to_dict(self) -> dict[str, Any]:
        """As served by ``/api/audit/verify``."""
        return {
            "ok": self.ok,
            "chain": self.chain.to_dict(),
            "evidence_checked": self.evidence_checked,
            "evidence_problems": list(self.evidence_problems),
        }


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_ledger(ledger: Ledger, data_dir: Path, evidence: bool = False) -> IntegrityReport:
    """Verify the audit chain (and evidence files when asked)."""
    with ledger.snapshot() as db:
        chain = audit.verify_chain(audit.read_entries(db))
    problems: list[str] = []
    checked = 0
    if evidence:
        for alert, item in ledger.evidence_files():
            checked += 1
            path = data_dir / item.path
            if not path.is_file():
                problems.append(f"{alert.alert_id}/{item.name}: file is missing")
            elif file_sha256(path) != item.sha256:
                problems.append(f"{alert.alert_id}/{item.name}: differs from its recorded SHA-256")
    return IntegrityReport(chain, checked, tuple(problems))
