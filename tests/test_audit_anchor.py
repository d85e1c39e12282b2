"""The audit trail proves itself (issue 14, items 6 and 7): its head leaves the ledger in every
MQTT event and on a retained topic, `audit verify --anchor` and the API find a trail cut at its
end (and seqs reused after the cut), `sitewatch run` restores dropped append-only triggers, and
edited alert rows and event payloads are found against the trail.

Ledgers are written by the real code (tests/delivery_burst.py, tests/ledger_writer.py, a real
`sitewatch run`) and tampered with sqlite3 after dropping the triggers, as someone with file
access could."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from alerts import audit
from alerts.contract import Topics, load_schema
from alerts.ledger import Ledger, missing_guards
from tests.servers import BrokerInfo, free_port, mosquitto

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
SITEWATCH = [sys.executable, "-m", "sitewatch"]
BURST_TOPICS = Topics("sitewatch", "delivery")  # as tests/delivery_burst.py publishes
AUDITOR_TOKEN = "auditor-anchor-token-0123456789"
AUDITOR = {"name": "au", "token": AUDITOR_TOKEN, "role": "auditor"}
CUT = 5  # entries cut from the end of the trail


# --------------------------------------------------------------------------- helpers


@dataclass
class Inbox:
    """Messages by topic, as an MQTT subscriber of ``<prefix>/<site>/#`` received them."""

    by_topic: dict[str, list[bytes]] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.by_topic.setdefault(message.topic, []).append(bytes(message.payload))
            self.changed.notify_all()

    def json(self, topic: str) -> list[dict[str, Any]]:
        with self.changed:
            return [json.loads(payload) for payload in self.by_topic.get(topic, [])]

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


@contextmanager
def subscriber(broker: BrokerInfo, topics: Topics) -> Iterator[Inbox]:
    """A fresh subscriber of every topic of the site (retained messages included)."""
    inbox = Inbox()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_message = inbox.on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe(f"{topics.base}/#", qos=1)
        assert subscribed.wait(5.0), "no SUBACK"
        yield inbox
    finally:
        client.disconnect()
        client.loop_stop()


def run_burst(ledger: Path, broker: BrokerInfo, events: int, log: Path) -> None:
    """tests/delivery_burst.py until ``events`` events are stored and delivered."""
    argv = [sys.executable, str(REPO / "tests" / "delivery_burst.py"), "--ledger", str(ledger)]
    argv += ["--host", broker.host, "--port", str(broker.port), "--events", str(events)]
    argv += ["--rate", "500"]
    with log.open("ab") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, timeout=120, check=False
        )
    assert done.returncode == 0, log.read_text()


def write_config(data_dir: Path, site_id: str, **sections: Any) -> Path:
    document = {
        "site": {"id": site_id},
        "storage": {"data_dir": str(data_dir)},
        "cameras": [{"name": "dock", "url": "rtsp://127.0.0.1:1/none"}],
        **sections,
    }
    path = data_dir.parent / f"{site_id}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def verify_cli(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SITEWATCH, "audit", "verify", "--config", str(config), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def tamper(ledger: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """What someone with file access could do: drop the guard triggers and change rows."""
    with sqlite3.connect(ledger) as db:
        db.execute("DROP TRIGGER IF EXISTS audit_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        for sql, params in statements:
            db.execute(sql, params)


def trail(ledger: Path) -> list[audit.AuditEntry]:
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        return list(audit.read_entries(db))


def head_of(ledger: Path) -> audit.AuditHead:
    last = trail(ledger)[-1]
    return audit.AuditHead(last.seq, last.hash)


def wait_until(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# --------------------------------------------------------------------------- the anchor


def test_every_event_and_a_retained_topic_carry_the_audit_head(tmp_path: Path) -> None:
    ledger = tmp_path / "data" / "ledger.sqlite3"
    with mosquitto(tmp_path) as broker:
        with subscriber(broker, BURST_TOPICS) as inbox:
            run_burst(ledger, broker, 40, tmp_path / "burst.log")
            assert inbox.wait(lambda: len(inbox.json(BURST_TOPICS.alerts)) >= 40, 10.0)
            events = inbox.json(BURST_TOPICS.alerts)
        with subscriber(broker, BURST_TOPICS) as late:  # after sitewatch has gone
            assert late.wait(lambda: bool(late.json(BURST_TOPICS.audit_head)), 5.0)
            retained = late.json(BURST_TOPICS.audit_head)[-1]
    entries = {entry.seq: entry for entry in trail(ledger)}
    last = max(entries)
    jsonschema.validate(retained, load_schema("audit-head.v1.json"))
    assert (retained["seq"], retained["hash"]) == (last, entries[last].hash)
    hashes = {0: audit.GENESIS_HASH} | {seq: entry.hash for seq, entry in entries.items()}
    sealing: dict[str, audit.AuditEntry] = {}
    for entry in entries.values():
        if "event_id" in entry.details:
            sealing.setdefault(entry.details["event_id"], entry)
    for event in events:
        jsonschema.validate(event, load_schema())
        head = event["audit_head"]
        assert hashes[head["seq"]] == head["hash"]
        # the entry that seals the event follows the head the event carries
        assert sealing[event["event_id"]].prev_hash == head["hash"]


@pytest.mark.parametrize("careful", [False, True], ids=["rows-cut", "rows-cut-and-seq-reset"])
def test_a_trail_cut_at_its_end_fails_against_the_anchor(tmp_path: Path, careful: bool) -> None:
    """Entries cut from the end of the trail (and, by a careful intruder, SQLite's record of
    the highest seq too); then sitewatch writes on and numbers new entries."""
    data = tmp_path / "data"
    ledger = data / "ledger.sqlite3"
    config = write_config(data, "delivery")
    with mosquitto(tmp_path) as broker:
        run_burst(ledger, broker, 30, tmp_path / "burst.log")
        with subscriber(broker, BURST_TOPICS) as inbox:  # what the platform keeps
            assert inbox.wait(lambda: bool(inbox.json(BURST_TOPICS.audit_head)), 5.0)
            kept = inbox.json(BURST_TOPICS.audit_head)[-1]
        anchor = f"{kept['seq']}:{kept['hash']}"
        held = verify_cli(config, "--anchor", anchor)
        assert held.returncode == 0, held.stdout + held.stderr
        assert f"anchor {kept['seq']} reached" in held.stdout

        end = kept["seq"] - CUT
        cut: list[tuple[str, tuple[object, ...]]] = [("DELETE FROM audit WHERE seq > ?", (end,))]
        if careful:
            cut.append(("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit'", (end,)))
        tamper(ledger, *cut)

        result = verify_cli(config, "--anchor", anchor)
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"the chain ends at seq {end}; the anchor is seq {kept['seq']}" in result.stderr
        plain = verify_cli(config)
        if careful:  # the chain alone holds: only the anchor shows the cut
            assert "audit trail intact" in plain.stdout
        else:  # SQLite still remembers the highest seq written
            assert plain.returncode == 1
            assert f"entries {end + 1}..{kept['seq']} are missing" in plain.stderr

        run_burst(ledger, broker, 40, tmp_path / "burst.log")  # sitewatch writes on
    after = {entry.seq: entry for entry in trail(ledger)}
    result = verify_cli(config, "--anchor", anchor)
    assert result.returncode == 1, result.stdout + result.stderr
    if careful:  # the seqs were reused, with other hashes
        assert after[kept["seq"]].hash != kept["hash"]
        assert f"entry {kept['seq']} has hash {after[kept['seq']].hash}" in result.stderr
        assert f"the anchor says {kept['hash']}" in result.stderr
    else:  # no seq is reused: the gap stays in the chain
        assert end + 1 not in after and max(after) > kept["seq"]
        assert f"entry {kept['seq']}, the anchor, is missing" in result.stderr
        assert f"BROKEN at entry {end + 1}: entry {end + 1} is missing" in result.stderr


@pytest.mark.parametrize(
    ("anchor", "reason"),
    [
        ("106", "is not SEQ:HASH"),
        ("x:" + "a" * 64, "seq 'x' is not a whole number"),
        ("-3:" + "a" * 64, "seq '-3' is not a whole number"),
        ("5:abc", "64 hexadecimal digits (got 3 characters)"),
        ("5:" + "g" * 64, "64 hexadecimal digits"),
        ("0:" + "a" * 64, "genesis hash"),
    ],
)  # fmt: skip
def test_bad_anchor_syntax_is_a_clear_cli_error(tmp_path: Path, anchor: str, reason: str) -> None:
    data = tmp_path / "data"
    Ledger(data / "ledger.sqlite3").close()
    result = verify_cli(write_config(data, "plant"), "--anchor", anchor)
    assert result.returncode == 2
    assert "--anchor" in result.stderr and reason in result.stderr, result.stderr


# --------------------------------------------------------------------------- edited rows


@pytest.fixture(scope="module")
def written_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger written by tests/ledger_writer.py (the real alert path), killed with -9 once
    it holds 40 ended alerts."""
    path = tmp_path_factory.mktemp("written") / "ledger.sqlite3"
    argv = [sys.executable, str(REPO / "tests" / "ledger_writer.py"), str(path), "14"]
    writer = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL)

    def alerts() -> int:
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                ended = db.execute("SELECT count(*) FROM alerts WHERE ended_at IS NOT NULL")
                return int(ended.fetchone()[0])
        except sqlite3.Error:
            return 0

    try:
        assert wait_until(lambda: alerts() >= 40, 60.0), "the writer stored too few alerts"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    return path


def copy_ledger(source: Path, tmp_path: Path, site: str = "crash") -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(source) as src, sqlite3.connect(data / "ledger.sqlite3") as copy:
        src.backup(copy)  # with what the WAL holds
    return data / "ledger.sqlite3", write_config(data, site)


def one(ledger: Path, sql: str) -> str:
    with sqlite3.connect(ledger) as db:
        return str(db.execute(sql).fetchone()[0])


ENDED = "SELECT alert_id FROM alerts WHERE ended_at IS NOT NULL ORDER BY started_at LIMIT 1"
UPDATE_EVENT = "SELECT event_id FROM events WHERE type = 'update' ORDER BY rowid LIMIT 1"
EDITS: list[tuple[str, str, str, str]] = [
    # (query picking the row, change, the problem named)
    ("hazard", ENDED, "UPDATE alerts SET hazard = 'flame' WHERE alert_id = ?",
     "alert {id}: hazard is 'flame' but the audit trail says 'blocked_exit'"),
    ("severity", ENDED, "UPDATE alerts SET severity = 'critical' WHERE alert_id = ?",
     "alert {id}: severity is 'critical' but the audit trail says 'warning'"),
    ("state", ENDED, "UPDATE alerts SET workflow_state = 'closed' WHERE alert_id = ?",
     "alert {id}: workflow_state is 'closed' but the audit trail says 'open'"),
    ("event", UPDATE_EVENT,
     "UPDATE events SET payload = replace(payload, '\"score\":', '\"score\":1') WHERE event_id = ?",
     "event {id} (alert"),
    ("outbox", UPDATE_EVENT,
     "UPDATE outbox SET payload = replace(payload, '\"zone\":', '\"zone\":1') WHERE event_id = ?",
     "(event {id}): the payload differs from the digest sealed in audit entry"),
    ("event-deleted", UPDATE_EVENT,
     "DELETE FROM events WHERE event_id = ?", "event {id} (alert"),
    ("alert-forged", ENDED,
     "INSERT INTO alerts SELECT 'FORGED' || alert_id, camera, zone, hazard, severity, score,"
     " peak_score, started_at, updated_at, ended_at, workflow_state, snapshot_path,"
     " snapshot_sha256, details FROM alerts WHERE alert_id = ?",
     "alert FORGED{id} is not in the audit trail"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("pick", "change", "problem"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS]
)
def test_an_edited_row_is_found_against_the_trail(
    written_ledger: Path, tmp_path: Path, pick: str, change: str, problem: str
) -> None:
    ledger, config = copy_ledger(written_ledger, tmp_path)
    untouched = verify_cli(config)
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    row_id = one(ledger, pick)
    tamper(ledger, (change, (row_id,)))
    result = verify_cli(config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "audit trail intact" in result.stdout  # the chain itself was not touched
    assert problem.format(id=row_id) in result.stderr, result.stderr


# --------------------------------------------------------------------------- sitewatch run


def test_run_restores_the_triggers_and_the_api_checks_the_anchor(
    written_ledger: Path, tmp_path: Path
) -> None:
    ledger, _ = copy_ledger(written_ledger, tmp_path)
    tamper(ledger)  # the triggers dropped, nothing else
    api_port = free_port()
    base = f"http://127.0.0.1:{api_port}"
    headers = {"Authorization": f"Bearer {AUDITOR_TOKEN}"}
    topics = Topics("sitewatch", "crash")
    log = tmp_path / "run.log"
    with mosquitto(tmp_path) as broker:
        config = write_config(
            tmp_path / "data",
            "crash",
            mqtt={"host": broker.host, "port": broker.port},
            api={"port": api_port, "tokens": [AUDITOR]},
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*SITEWATCH, "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ},
            )
        try:
            assert wait_until(lambda: api_up(base) or process.poll() is not None, 60.0)
            assert process.poll() is None, log.read_text()
            text = log.read_text()
            assert "append-only triggers were missing or altered" in text, text
            assert "audit_no_update, audit_no_delete" in text
            with sqlite3.connect(ledger) as db:
                assert missing_guards(db) == []
            [restored] = [e for e in trail(ledger) if e.action == "audit.guard_restored"]
            assert restored.details["triggers"] == ["audit_no_update", "audit_no_delete"]
            with subscriber(broker, topics) as inbox:
                assert inbox.wait(
                    lambda: any(h["seq"] == restored.seq for h in inbox.json(topics.audit_head)),
                    10.0,
                ), inbox.by_topic.keys()
                kept = inbox.json(topics.audit_head)[-1]
            anchor = f"{kept['seq']}:{kept['hash']}"
            assert kept["hash"] == head_of(ledger).hash

            verified = httpx.get(
                f"{base}/api/audit/verify", params={"anchor": anchor}, headers=headers
            )
            assert verified.status_code == 200, verified.text
            body = verified.json()
            assert body["ok"] and body["anchor"]["reached"] and body["alerts_checked"] >= 40
            for bad in ("12", "12:" + "z" * 64, "x:1"):
                refused = httpx.get(
                    f"{base}/api/audit/verify", params={"anchor": bad}, headers=headers
                )
                assert refused.status_code == 422, refused.text
                assert refused.json()["detail"].startswith("query parameter anchor: ")

            alert_id = one(ledger, ENDED)
            tamper(
                ledger,
                ("DELETE FROM audit WHERE seq > ?", (kept["seq"] - 3,)),
                ("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit'", (kept["seq"] - 3,)),
                ("UPDATE alerts SET severity = 'critical' WHERE alert_id = ?", (alert_id,)),
            )
            broken = httpx.get(
                f"{base}/api/audit/verify", params={"anchor": anchor}, headers=headers
            )
            body = broken.json()
            assert broken.status_code == 200 and not body["ok"] and body["chain"]["ok"]
            assert body["anchor"]["reason"].startswith(
                f"the chain ends at seq {kept['seq'] - 3}; the anchor is seq {kept['seq']}"
            )
            assert f"alert {alert_id}: severity is 'critical'" in " ".join(body["row_problems"])
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def api_up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
