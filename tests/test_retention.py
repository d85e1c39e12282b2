"""Evidence retention: age and quota, oldest first, open cases kept, rows flagged."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from fastapi.testclient import TestClient

from alerts.contract import Topics, alert_document, load_schema
from alerts.ledger import Ledger
from alerts.retention import DAY_S, RetentionPolicy, prune
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase
from sitewatch.api import create_app
from sitewatch.api.context import ApiDependencies

NOW = 1_800_000_000.0


def make_alerts(tmp_path: Path, count: int) -> tuple[Ledger, list[str]]:
    """``count`` ended alerts, one per zone, a day apart, each with two snapshots."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    service = AlertService(ledger, Topics("sw", "a"), tmp_path, "http://h", {}, clock=lambda: NOW)
    rng = np.random.default_rng(0)
    ids = []
    for index in range(count):
        started = NOW - (count - index) * DAY_S
        image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)  # incompressible: ~50 kB
        zone = f"exit-{index}"
        new = service.handle(
            Observation("dock", zone, Hazard.BLOCKED_EXIT, Phase.START, started, 0.5), image
        )
        service.handle(
            Observation("dock", zone, Hazard.BLOCKED_EXIT, Phase.END, started + 60, 0.5), None
        )
        assert new is not None
        ids.append(new.after.alert_id)
    return ledger, ids


def files_of(tmp_path: Path, alert_id: str) -> list[Path]:
    folder = tmp_path / "evidence" / alert_id
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_age_removes_closed_cases_only(tmp_path: Path) -> None:
    ledger, ids = make_alerts(tmp_path, 4)  # ended 4, 3, 2 and 1 days ago
    for alert_id in ids[:3]:
        ledger.set_workflow_state(alert_id, "closed")
    ledger.set_workflow_state(ids[0], "assigned")  # the oldest case is still being worked

    report = prune(ledger, tmp_path, RetentionPolicy(max_age_days=2.5, quota_bytes=10**12), NOW)

    assert report.removed_files == 2  # the clean and the annotated snapshot of ids[1]
    assert not files_of(tmp_path, ids[1])  # closed and 3 days old
    assert files_of(tmp_path, ids[0])  # older, but its case is open
    assert files_of(tmp_path, ids[2]) and files_of(tmp_path, ids[3])  # younger than 2.5 days
    gone = ledger.alert(ids[1])
    assert gone is not None and all(e.removed_at == NOW for e in gone.evidence)


def test_quota_removes_oldest_first_and_keeps_open_cases(tmp_path: Path) -> None:
    ledger, ids = make_alerts(tmp_path, 5)
    for alert_id in ids[1:]:
        ledger.set_workflow_state(alert_id, "closed")  # ids[0], the oldest, stays open
    sizes = [sum(f.stat().st_size for f in files_of(tmp_path, a)) for a in ids]
    quota = sum(sizes[0:1]) + sum(sizes[3:]) + 10  # room for the open case and two newest

    report = prune(ledger, tmp_path, RetentionPolicy(max_age_days=3650, quota_bytes=quota), NOW)

    kept = [bool(files_of(tmp_path, a)) for a in ids]
    assert kept == [True, False, False, True, True]
    assert report.over_quota_bytes == 0 and report.kept_bytes <= quota


def test_tiny_quota_keeps_open_cases_and_says_so(tmp_path: Path) -> None:
    ledger, ids = make_alerts(tmp_path, 3)
    report = prune(ledger, tmp_path, RetentionPolicy(max_age_days=1, quota_bytes=1), NOW)
    assert report.removed_files == 0 and report.over_quota_bytes > 0
    assert all(files_of(tmp_path, a) for a in ids)


def test_removed_evidence_in_payloads_and_api(tmp_path: Path) -> None:
    ledger, ids = make_alerts(tmp_path, 2)
    ledger.set_workflow_state(ids[0], "closed")
    prune(ledger, tmp_path, RetentionPolicy(max_age_days=1.5, quota_bytes=10**12), NOW)
    alert = ledger.alert(ids[0])
    assert alert is not None
    document = alert_document(alert, "a", "http://h")
    assert document["snapshot"] is None
    assert all(item["url"] is None and item["removed_at"] for item in document["evidence"])
    jsonschema.validate(
        {
            "schema": "sitewatch.alert-event/1",
            "event_id": "01J0000000000000000000000A",
            "type": "state",
            "created_at": "2026-11-28T00:00:00.000Z",
            "before": None,
            "after": json.loads(json.dumps(document)),
        },
        load_schema(),
    )
    app = create_app(ApiDependencies.of_ledger(ledger, tmp_path, Topics("sw", "a"), "http://h"))
    response = TestClient(app).get(f"/api/alerts/{ids[0]}/snapshot")
    assert response.status_code == 410
    assert "removed by retention" in response.json()["detail"]


@pytest.mark.parametrize("state", ["open", "acknowledged", "assigned", "rectified", "escalated"])
def test_unfinished_cases_are_never_pruned(tmp_path: Path, state: str) -> None:
    ledger, ids = make_alerts(tmp_path, 1)
    ledger.set_workflow_state(ids[0], state)
    prune(ledger, tmp_path, RetentionPolicy(max_age_days=0.001, quota_bytes=1), NOW)
    assert files_of(tmp_path, ids[0])
