"""Whole-ledger checks for auditors: the audit chain (against an anchor kept outside the ledger,
when one is given), the alert, event and outbox rows against the trail (``trail_rows``) and,
optionally, every kept evidence file against the digest the audit trail holds, and evidence that
is missing (``evidence_check``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts import audit
from alerts.evidence_check import check_evidence
from alerts.ledger import Ledger
from alerts.trail_rows import RowReport, check_rows


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
        # Evidence files against the digests the chain holds, and evidence that is missing.
        checked, problems = check_evidence(db, data_dir) if evidence else (0, [])
    return IntegrityReport(chain, checked, tuple(problems), rows, anchor, anchor_problem)
