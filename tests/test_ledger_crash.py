"""The ledger survives kill -9 at any point: consistent, nothing half-written."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerts import audit
from alerts.ledger import Ledger

pytestmark = pytest.mark.integration
WRITER = Path(__file__).with_name("ledger_writer.py")


def check_consistent(path: Path) -> tuple[int, int]:
    """Integrity and cross-table invariants; returns (alerts, events)."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        orphans = db.execute(
            "SELECT count(*) FROM events e LEFT JOIN alerts a USING (alert_id)"
            " WHERE a.alert_id IS NULL"
        ).fetchone()[0]
        unsent = db.execute(
            "SELECT count(*) FROM events e LEFT JOIN outbox o USING (event_id)"
            " WHERE o.event_id IS NULL"
        ).fetchone()[0]
        assert (orphans, unsent) == (0, 0)
        for alert_id, ended_at in db.execute("SELECT alert_id, ended_at FROM alerts"):
            kinds = [
                json.loads(p)["type"]
                for (p,) in db.execute(
                    "SELECT payload FROM events WHERE alert_id = ? ORDER BY rowid", (alert_id,)
                )
            ]
            assert kinds and kinds[0] == "new", (alert_id, kinds)
            assert (ended_at is not None) == (kinds[-1] == "end"), (alert_id, kinds)
        alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        chain = audit.verify_chain(audit.read_entries(db))  # no half-written audit entry
        created = db.execute("SELECT count(*) FROM audit WHERE action = 'alert.created'")
        assert chain.ok, chain.reason
        assert created.fetchone()[0] == alerts  # each alert's creation is in the trail
    return alerts, events


def test_kill_nine_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    rng = random.Random(11)
    previous_events = 0
    for cycle in range(6):
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), str(path), str(cycle)], stdout=subprocess.PIPE
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.2, 0.8))
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        _, events = check_consistent(path)
        assert events > previous_events  # it kept writing after each restart
        previous_events = events
    reopened = Ledger(path)  # and sitewatch itself opens it again
    assert reopened.pending_count() == previous_events
    reopened.close()
