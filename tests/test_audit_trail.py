"""The audit trail: hash chain, append-only, tampering found at the right entry (API and CLI),
and a version 2 ledger sealed on migration."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from alerts import audit
from alerts.cases import CaseRequest
from alerts.ledger import MIGRATIONS, Ledger
from alerts.workflow import Action
from sitewatch.cli.app import app
from tests.api_site import T0, Site, make_site


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = make_site(tmp_path)
    for text in ("first look", "camera 3 confirms", "calling the warehouse lead"):
        site.cases.apply(site.ended_id, CaseRequest(Action.COMMENT, "ops", "operator", note=text))
    return site


def entries(ledger: Ledger) -> list[audit.AuditEntry]:
    with ledger.snapshot() as db:
        return list(audit.read_entries(db))


def tamper(ledger: Ledger, sql: str, *params: object) -> None:
    """What someone with file access could do: drop the guard triggers and edit rows."""
    with sqlite3.connect(ledger.path) as db:
        db.execute("DROP TRIGGER IF EXISTS audit_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        db.execute(sql, params)


def comment_seq(site: Site, text: str) -> int:
    return next(e.seq for e in entries(site.ledger) if e.details.get("note") == text)


def test_chain_links_every_entry(site: Site) -> None:
    trail = entries(site.ledger)
    assert [e.seq for e in trail] == list(range(1, len(trail) + 1))
    assert trail[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(trail))
    report = audit.verify_chain(trail)
    assert report.ok and report.checked == len(trail) and report.head_hash == trail[-1].hash


def test_alert_creation_and_evidence_digests_are_in_the_trail(site: Site) -> None:
    alert = site.ledger.alert(site.ended_id)
    assert alert is not None
    mine = [e for e in entries(site.ledger) if e.alert_id == site.ended_id]
    assert mine[0].action == "alert.created" and mine[0].details["hazard"] == "blocked_exit"
    sealed = {e.details["name"]: e.details["sha256"] for e in mine if e.action == "evidence.added"}
    assert sealed == {e.name: e.sha256 for e in alert.evidence}  # snapshots and the clip


def test_the_trail_is_append_only(site: Site) -> None:
    with sqlite3.connect(site.ledger.path) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit WHERE seq = 1")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("UPDATE audit SET detail = replace(detail, 'camera 3', 'camera 4') WHERE seq = ?",
         "was altered"),
        ("UPDATE audit SET actor = 'intruder' WHERE seq = ?", "was altered"),
        ("UPDATE audit SET at = at + 3600 WHERE seq = ?", "was altered"),
        ("DELETE FROM audit WHERE seq = ?", "is missing"),
    ],
)  # fmt: skip
def test_tampering_is_found_at_the_entry(site: Site, change: str, reason: str) -> None:
    seq = comment_seq(site, "camera 3 confirms")
    tamper(site.ledger, change, seq)
    report = audit.verify_chain(entries(site.ledger))
    assert not report.ok
    assert report.first_broken == seq and reason in (report.reason or "")
    assert report.checked == seq - 1  # everything before it still holds


def test_rehashing_a_changed_entry_breaks_the_next_link(site: Site) -> None:
    seq = comment_seq(site, "camera 3 confirms")
    target = next(e for e in entries(site.ledger) if e.seq == seq)
    forged_detail = target.detail.replace("camera 3", "camera 4")
    forged = audit.entry_hash(
        seq,
        target.at,
        target.actor,
        target.action,
        target.alert_id,
        forged_detail,
        target.prev_hash,
    )
    tamper(
        site.ledger,
        "UPDATE audit SET detail = ?, hash = ? WHERE seq = ?",
        forged_detail,
        forged,
        seq,
    )
    report = audit.verify_chain(entries(site.ledger))
    assert report.first_broken == seq + 1 and "does not link" in (report.reason or "")


def test_api_and_cli_name_the_broken_entry(site: Site, tmp_path: Path) -> None:
    verified = site.client.get("/api/audit/verify", headers=site.headers("auditor")).json()
    assert verified["ok"] and verified["chain"]["first_broken"] is None
    seq = comment_seq(site, "camera 3 confirms")
    tamper(site.ledger, "UPDATE audit SET actor = 'intruder' WHERE seq = ?", seq)

    broken = site.client.get("/api/audit/verify", headers=site.headers("auditor")).json()
    assert not broken["ok"] and broken["chain"]["first_broken"] == seq

    config = tmp_path / "site.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "plant-a", "name": "Plant A"},
                "storage": {"data_dir": str(tmp_path)},
                "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:1/x"}],
            }
        )
    )
    result = CliRunner().invoke(app, ["audit", "verify", "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert f"BROKEN at entry {seq}" in result.output and "was altered" in result.output


def test_evidence_files_are_checked_against_their_digests(site: Site) -> None:
    auditor = site.headers("auditor")
    assert site.client.get("/api/audit/verify?evidence=true", headers=auditor).json()["ok"]
    (site.tmp / "evidence" / site.ended_id / "clip.mp4").write_bytes(b"edited")
    report = site.client.get("/api/audit/verify?evidence=true", headers=auditor).json()
    assert not report["ok"] and report["chain"]["ok"]
    assert report["evidence_problems"] == [
        f"{site.ended_id}/clip.mp4: differs from its recorded SHA-256"
    ]


def test_version_2_ledger_is_sealed_on_migration(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "PRAGMA user_version=2;")
        db.execute(
            "INSERT INTO alerts (alert_id, camera, zone, hazard, severity, score, peak_score,"
            " started_at, updated_at) VALUES ('A1', 'dock', 'exit-1', 'flame', 'critical',"
            " 0.9, 0.9, ?, ?)",
            (T0, T0),
        )
        db.execute(
            "INSERT INTO evidence (alert_id, kind, path, sha256, created_at)"
            " VALUES ('A1', 'snapshot', 'evidence/A1/snapshot.jpg', ?, ?)",
            ("cd" * 32, T0),
        )
        db.execute(
            "INSERT INTO audit (at, actor, action, alert_id) VALUES (?, 'x', 'old', 'A1')", (T0,)
        )
    ledger = Ledger(path)
    trail = entries(ledger)
    assert [e.action for e in trail] == ["old", "alert.created", "evidence.added"]
    assert trail[2].details["sha256"] == "cd" * 32 and trail[1].details["migrated"] is True
    assert audit.verify_chain(trail).ok
