"""Rows against the trail on a trail in the format written before every event was sealed
(entries made with ``audit.append`` as the earlier code made them), and the anchor check's
answers on a chain given entry by entry."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from alerts import audit
from alerts.ledger import Ledger, sha256_text
from alerts.trail_rows import check_rows

T0 = 1_800_000_000.0


def legacy_ledger(path: Path) -> Ledger:
    """One alert created at severity warning and raised to critical by an update event that
    the earlier format did not seal; one case comment."""
    ledger = Ledger(path)
    with ledger.transaction() as db:
        db.execute(
            "INSERT INTO alerts (alert_id, camera, zone, hazard, severity, score, peak_score,"
            " started_at, updated_at, workflow_state) VALUES ('A1', 'dock', 'exit', 'flame',"
            " 'critical', 0.9, 0.9, ?, ?, 'acknowledged')",
            (T0, T0 + 5),
        )
        for event_id, at, severity in (("E1", T0, "warning"), ("E2", T0 + 5, "critical")):
            payload = json.dumps({"event_id": event_id, "after": {"severity": severity}})
            db.execute(
                "INSERT INTO events (event_id, alert_id, type, created_at, payload)"
                " VALUES (?, 'A1', 'new', ?, ?)",
                (event_id, at, payload),
            )
            if event_id == "E1":  # the earlier format sealed only new / end / evidence events
                detail = {
                    "camera": "dock",
                    "zone": "exit",
                    "hazard": "flame",
                    "severity": "warning",
                    "score": 0.5,
                    "started_at": T0,
                    "event_id": "E1",
                    "event_sha256": sha256_text(payload),
                }
                audit.append(db, at, "sitewatch", "alert.created", "A1", detail)
        case = {"action": "acknowledge", "from": "open", "to": "acknowledged"}
        audit.append(db, T0 + 9, "ops", "case.acknowledge", "A1", case)
    return ledger


def rows(ledger: Ledger) -> list[str]:
    with ledger.snapshot() as db:
        return list(check_rows(db).problems)


def test_a_legacy_trail_stays_verifiable(tmp_path: Path) -> None:
    ledger = legacy_ledger(tmp_path / "ledger.sqlite3")
    with ledger.snapshot() as db:
        report = check_rows(db)
    assert report.problems == () and report.unsealed_legacy_events == 1
    assert report.alerts_checked == 1 and report.events_checked == 2


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("UPDATE alerts SET hazard = 'blocked_exit'",
         "alert A1: hazard is 'blocked_exit' but the audit trail says 'flame' (entry 1)"),
        ("UPDATE alerts SET workflow_state = 'closed'",
         "alert A1: workflow_state is 'closed' but the audit trail says 'acknowledged' (entry 2)"),
        ("UPDATE events SET payload = '{}' WHERE event_id = 'E1'",
         "event E1 (alert A1): the stored payload differs from the digest sealed in audit entry 1"),
    ],
)  # fmt: skip
def test_what_a_legacy_trail_fixes_is_still_checked(
    tmp_path: Path, change: str, problem: str
) -> None:
    ledger = legacy_ledger(tmp_path / "ledger.sqlite3")
    with sqlite3.connect(ledger.path) as db:
        db.execute(change)
    assert rows(ledger) == [problem]


def test_once_events_are_sealed_an_unsealed_one_is_reported(tmp_path: Path) -> None:
    ledger = legacy_ledger(tmp_path / "ledger.sqlite3")
    with ledger.transaction() as db:  # the current format from here on
        seal = {"event_id": "E3", "event_sha256": "0" * 64, "event_type": "update"}
        audit.append(db, T0 + 20, "sitewatch", "alert.updated", "A1", seal)
        db.execute(
            "INSERT INTO events (event_id, alert_id, type, created_at, payload)"
            " VALUES ('E4', 'A1', 'update', ?, '{}')",
            (T0 + 30,),
        )
    problems = rows(ledger)
    assert "event E4 (alert A1) is not in the audit trail" in problems
    assert any(p.startswith("event E3 (alert A1), sealed in audit entry 3,") for p in problems)


def entries(count: int) -> list[audit.AuditEntry]:
    made, prev = [], audit.GENESIS_HASH
    for seq in range(1, count + 1):
        digest = audit.entry_hash(seq, T0 + seq, "x", "a", None, "{}", prev)
        made.append(audit.AuditEntry(seq, T0 + seq, "x", "a", None, "{}", prev, digest))
        prev = digest
    return made


def test_the_anchor_check_names_why_the_trail_does_not_reach_it() -> None:
    chain = entries(6)
    anchor = audit.AuditHead(6, chain[5].hash)
    holding = audit.verify_chain(chain)
    assert audit.check_anchor(holding, anchor, chain[5].hash, 6) is None
    cut = audit.verify_chain(chain[:4])
    assert audit.check_anchor(cut, anchor, None, 4) == (
        "the chain ends at seq 4; the anchor is seq 6 (entries after 4 were removed)"
    )
    rebuilt = [
        *entries(4),
        audit.AuditEntry(5, T0, "y", "a", None, "{}", chain[3].hash, "f" * 64),
        audit.AuditEntry(6, T0, "y", "a", None, "{}", "f" * 64, "e" * 64),
    ]
    reason = audit.check_anchor(audit.verify_chain(rebuilt), anchor, "e" * 64, 6)
    assert reason is not None and reason.startswith(f"entry 6 has hash {'e' * 64}")
    assert audit.check_anchor(cut, audit.EMPTY_HEAD, None, 4) is None
