"""Alert lifecycle and ledger: one alert per incident, cooldown, atomic outbox, valid payloads."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from alerts.clip_recorder import ClipReady
from alerts.contract import Topics, load_schema
from alerts.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, LedgerError
from alerts.model import EventType, Evidence
from alerts.service import AlertService, new_ulid
from core.vocabulary import Hazard, Severity
from detect.observations import Observation, Phase

TOPICS = Topics("sitewatch", "plant-a")


def obs(phase: Phase, t: float, score: float = 0.7, zone: str = "exit-1") -> Observation:
    return Observation("dock", zone, Hazard.BLOCKED_EXIT, phase, t, score)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite3")


@pytest.fixture
def service(ledger: Ledger, tmp_path: Path) -> AlertService:
    return AlertService(ledger, TOPICS, tmp_path, "http://127.0.0.1:8080", {"blocked_exit": 60.0})


def types(ledger: Ledger) -> list[str]:
    return [json.loads(item.payload)["type"] for item in ledger.pending(1000)]


def test_incident_start_update_end(service: AlertService, ledger: Ledger) -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    new = service.handle(obs(Phase.START, 100.0, 0.5), image)
    service.handle(obs(Phase.UPDATE, 110.0, 0.9), image)
    service.handle(obs(Phase.END, 120.0, 0.9), image)

    assert new is not None and new.type is EventType.NEW
    assert types(ledger) == ["new", "update", "end"]
    stored = ledger.alert(new.after.alert_id)
    assert stored is not None
    assert (stored.peak_score, stored.ended_at) == (0.9, 120.0)
    assert stored.snapshot is not None and len(stored.snapshot.sha256) == 64
    assert service.open_alerts() == []


def test_second_start_while_open_is_an_update(service: AlertService, ledger: Ledger) -> None:
    service.handle(obs(Phase.START, 1.0), None)
    service.handle(obs(Phase.START, 10.0), None)  # after the update interval
    assert types(ledger) == ["new", "update"]
    assert len(ledger.recent_alerts()) == 1


def test_cooldown_reopens_the_previous_alert(service: AlertService, ledger: Ledger) -> None:
    first = service.handle(obs(Phase.START, 0.0), None)
    service.handle(obs(Phase.END, 10.0), None)
    again = service.handle(obs(Phase.START, 30.0), None)  # within the 60 s cooldown
    later = service.handle(obs(Phase.END, 40.0), None)
    fresh = service.handle(obs(Phase.START, 200.0), None)  # after the cooldown
    assert first is not None and again is not None and later is not None and fresh is not None
    assert again.after.alert_id == first.after.alert_id and again.after.active
    assert fresh.type is EventType.NEW and fresh.after.alert_id != first.after.alert_id


def test_other_zone_is_another_alert(service: AlertService, ledger: Ledger) -> None:
    service.handle(obs(Phase.START, 0.0, zone="exit-1"), None)
    service.handle(obs(Phase.START, 0.0, zone="exit-2"), None)
    assert types(ledger) == ["new", "new"]


def test_update_without_open_alert_is_ignored(service: AlertService, ledger: Ledger) -> None:
    assert service.handle(obs(Phase.END, 5.0), None) is None
    assert ledger.pending_count() == 0


def test_open_alerts_survive_a_restart(ledger: Ledger, tmp_path: Path) -> None:
    args = (TOPICS, tmp_path, "http://h:1", {"blocked_exit": 60.0})
    AlertService(ledger, *args).handle(obs(Phase.START, 0.0), None)
    restarted = AlertService(ledger, *args)
    again = restarted.handle(obs(Phase.START, 50.0), None)
    assert again is not None and again.type is EventType.UPDATE


def test_every_payload_validates_against_the_schema(service: AlertService, ledger: Ledger) -> None:
    image = np.full((48, 64, 3), 128, np.uint8)
    service.handle(obs(Phase.START, 1_700_000_000.0), image)
    service.handle(obs(Phase.UPDATE, 1_700_000_010.0, 0.95), image)
    service.handle(obs(Phase.END, 1_700_000_020.0), image)
    schema = load_schema()
    for item in ledger.pending(10):
        jsonschema.validate(json.loads(item.payload), schema)


@pytest.mark.parametrize(
    ("field", "value"),
    [("type", "created"), ("event_id", "not-a-ulid"), ("schema", "sitewatch.alert-event/2")],
)
def test_schema_rejects_wrong_payloads(
    service: AlertService, ledger: Ledger, field: str, value: str
) -> None:
    service.handle(obs(Phase.START, 1_700_000_000.0), None)
    payload = json.loads(ledger.pending(1)[0].payload)
    payload[field] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, load_schema())


def test_outbox_delivery_is_recorded(service: AlertService, ledger: Ledger) -> None:
    for t in range(3):
        service.handle(obs(Phase.START, float(t), zone=f"z{t}"), None)
    items = ledger.pending(10)
    ledger.mark_delivered([items[0].seq, items[2].seq], 5.0)
    assert [item.seq for item in ledger.pending(10)] == [items[1].seq]
    assert ledger.pending_count() == 1


def test_ids_are_time_sortable() -> None:
    ids = [new_ulid() for _ in range(50)]
    assert ids == sorted(ids)


def test_failed_transaction_leaves_nothing(service: AlertService, ledger: Ledger) -> None:
    counter = itertools.count()

    def duplicate_id() -> str:  # the event id collides with an earlier one on the 3rd call
        return ["01HZZZZZZZZZZZZZZZZZZZZZZ0", "01HZZZZZZZZZZZZZZZZZZZZZZ1"][min(next(counter), 1)]

    broken = AlertService(ledger, TOPICS, Path(), "http://h:1", {}, new_id=duplicate_id)
    broken.handle(obs(Phase.START, 0.0, zone="a"), None)
    with pytest.raises(sqlite3.IntegrityError):
        broken.handle(obs(Phase.START, 0.0, zone="b"), None)
    assert [a.zone for a in ledger.recent_alerts()] == ["a"]
    assert ledger.pending_count() == 1


def test_newer_ledger_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(LedgerError, match="newer than this sitewatch"):
        Ledger(path)


def test_ledger_uses_wal(ledger: Ledger) -> None:
    with sqlite3.connect(ledger.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.schema_version == SCHEMA_VERSION


def test_version_1_ledger_is_migrated_with_its_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
        db.execute(
            "INSERT INTO alerts (alert_id, camera, zone, hazard, severity, score, peak_score,"
            " started_at, updated_at, snapshot_path, snapshot_sha256)"
            " VALUES ('A1', 'dock', 'exit-1', 'blocked_exit', 'warning', 0.5, 0.5, 1, 1,"
            " 'evidence/A1/snapshot.jpg', ?)",
            ("ab" * 32,),
        )
    migrated = Ledger(path)
    alert = migrated.alert("A1")
    assert migrated.schema_version == SCHEMA_VERSION
    assert alert is not None and alert.snapshot is not None
    assert alert.snapshot.path == "evidence/A1/snapshot.jpg"


def test_updates_are_rate_limited_but_never_lost(service: AlertService, ledger: Ledger) -> None:
    service.handle(obs(Phase.START, 0.0, 0.40), None)
    for step, t in enumerate([1.0, 2.0, 3.0]):  # inside the 5 s interval: held
        service.handle(obs(Phase.UPDATE, t, 0.5 + step / 10), None)
    assert types(ledger) == ["new"]
    assert service.flush_updates(4.0) == 0  # still inside the interval
    assert service.flush_updates(5.5) == 1
    published = json.loads(ledger.pending(10)[-1].payload)
    assert (published["type"], published["after"]["score"]) == ("update", 0.7)
    service.handle(obs(Phase.END, 6.0), None)
    assert types(ledger) == ["new", "update", "end"]


def test_severity_change_is_not_held(service: AlertService, ledger: Ledger) -> None:
    service.handle(obs(Phase.START, 0.0), None)
    escalated = Observation(
        "dock", "exit-1", Hazard.BLOCKED_EXIT, Phase.UPDATE, 1.0, 0.9, Severity.CRITICAL
    )
    service.handle(escalated, None)
    assert types(ledger) == ["new", "update"]


class RecordingClips:
    """Stands in for the clip recorder: remembers what the service asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def begin(self, alert_id: str, camera: str, started_at: float, first_part: int = 1) -> bool:
        self.calls.append(("begin", alert_id, first_part))
        return True

    def end(self, alert_id: str, ended_at: float) -> None:
        self.calls.append(("end", alert_id, 0))


def test_clips_follow_the_incident_and_a_reopening(service: AlertService) -> None:
    clips = RecordingClips()
    service.clips = clips
    new = service.handle(obs(Phase.START, 0.0), None)
    assert new is not None
    alert_id = new.after.alert_id
    service.handle(obs(Phase.END, 10.0), None)
    service.clip_ready(
        ClipReady(alert_id, 1, Evidence("evidence/x/clip.mp4", "0" * 64), 0, 20, False)
    )
    service.handle(obs(Phase.START, 30.0), None)  # within the cooldown: reopened
    assert clips.calls == [("begin", alert_id, 1), ("end", alert_id, 0), ("begin", alert_id, 2)]


def test_late_clip_of_an_ended_alert_leaves_the_next_incident_open(
    ledger: Ledger, tmp_path: Path
) -> None:
    # No cooldown: a new incident in the same zone is a new alert while the previous clip is
    # still in post-roll; its clip_ready must not close the new alert (seen in the demo loop).
    service = AlertService(ledger, TOPICS, tmp_path, "http://t", {"blocked_exit": 0.0})
    first = service.handle(obs(Phase.START, 0.0), None)
    service.handle(obs(Phase.END, 10.0), None)
    second = service.handle(obs(Phase.START, 15.0), None)
    assert first is not None and second is not None
    assert second.after.alert_id != first.after.alert_id
    clip = Evidence(f"evidence/{first.after.alert_id}/clip.mp4", "0" * 64)
    service.clip_ready(ClipReady(first.after.alert_id, 1, clip, 0, 20, False))
    assert [a.alert_id for a in service.open_alerts()] == [second.after.alert_id]
    ended = service.handle(obs(Phase.END, 40.0), None)
    assert ended is not None and ended.type is EventType.END
    assert ended.after.alert_id == second.after.alert_id
    assert service.open_alerts() == []
