"""Whole-ledger checks for auditors: the audit chain (against an anchor kept outside the ledger,
when one is given), the alert, event and outbox rows against the trail (``trail_rows``) and,
optionally, every kept evidence file against the digest recorded when it was captured."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts import audit
from alerts.ledger import Ledger
from alerts.trail_rows import RowReport, check_rows

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """The chain report and the evidence files that do not match their records."""

    chain: audit.ChainReport
    evidence_checked: int
    evidence_problems: tuple[str, ...]
    rows: RowReport | None = None
    anchor: audit.AuditHead | None = None
    anchor_problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the chain holds (and reaches the anchor), the rows match the trail and
        every checked file matches."""
        rows_ok = self.rows is None or not self.rows.problems
        return (
            self.chain.ok and self.anchor_problem is None and rows_ok and not self.evidence_problems
        )

    def to_dict(self) -> dict[str, Any]:
        """As served by ``/api/audit/verify``."""
        rows = self.rows
        return {
            "ok": self.ok,
            "chain": self.chain.to_dict(),
            "anchor": None
            if self.anchor is None
            else {
                **self.anchor.to_dict(),
                "reached": self.anchor_problem is None,
                "reason": self.anchor_problem,
            },
            "alerts_checked": 0 if rows is None else rows.alerts_checked,
            "events_checked": 0 if rows is None else rows.events_checked,
            "row_problems": [] if rows is None else list(rows.problems),
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


def verify_ledger(
    ledger: Ledger,
    data_dir: Path,
    evidence: bool = False,
    anchor: audit.AuditHead | None = None,
) -> IntegrityReport:
    """Verify the audit chain (that it reaches ``anchor``, when given), the rows against it,
    and evidence files when asked."""
    anchor_problem = None
    with ledger.snapshot() as db:
        chain = audit.verify_chain(audit.read_entries(db), audit.written_up_to(db))
        if anchor is not None:
            found = audit.stored_hash(db, anchor.seq)
            anchor_problem = audit.check_anchor(chain, anchor, found, audit.head(db).seq)
        rows = check_rows(db)
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
    return IntegrityReport(chain, checked, tuple(problems), rows, anchor, anchor_problem)
