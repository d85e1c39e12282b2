"""Cases worked from the centre, all real (mosquitto, PostgreSQL, an edge with its command
consumer, a `sitewatch hub` process): each action is a command the edge applies through its
own workflow and audit trail, pending at the hub until the edge's state event; scopes and the
supervised list decide who may act; a command whose case moved on is refused and counted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from alerts.cases import CaseRequest
from alerts.commands import CommandConsumer, handle_command, prepare
from alerts.mqtt_publisher import BrokerSettings
from alerts.workflow import Action
from hub.config_loader import load_hub_config
from hub.escalation import escalate_overdue
from hub.intake import Event, judge_event
from hub.migrations import migrate
from hub.store import register_sites, store_event
from tests.hub_env import (
    HOST,
    OFFICER_TOKENS,
    STREET_TOKEN,
    SUPERVISOR_TOKEN,
    Edge,
    HubProcess,
    broker,
    edge,
    event_payloads,
    hub_config,
    hub_process,
    postgres,
    wait_until,
)

pytestmark = pytest.mark.integration


def command(alert_id: str, expected: str, action: str = "acknowledge", **extra: Any) -> bytes:
    document = {
        "schema": "sitewatch.command/1",
        "command_id": extra.pop("command_id", "01JDW7Q5M2Z7X3V9K8T4R6N1PB"),
        "alert_id": alert_id,
        "action": action,
        "actor": "Li Wei (hub)",
        "expected_state": expected,
        "issued_at": "2026-11-28T14:03:12.481Z",
        **extra,
    }
    return json.dumps(document).encode()


def test_the_edge_applies_a_command_once_and_refuses_one_whose_case_moved_on(
    tmp_path: Path,
) -> None:
    with edge(tmp_path, "plant-a", None) as node:
        prepare(node.ledger)
        alert_id = node.raise_alert()
        first = handle_command(node.ledger, node.cases, command(alert_id, "open"), time.time())
        again = handle_command(node.ledger, node.cases, command(alert_id, "open"), time.time())
        assert first["status"] == "applied" and first["state"] == "acknowledged"
        assert again == first  # the same answer, applied once
        states = [e for e in node.ledger.events(alert_id) if e["type"] == "state"]
        assert len(states) == 1 and states[0]["case"]["command_id"] == first["command_id"]
        assert states[0]["case"]["actor"] == "Li Wei (hub)"
        moved = handle_command(
            node.ledger,
            node.cases,
            command(alert_id, "open", command_id="01JDW7Q5M2Z7X3V9K8T4R6N1PC"),
            time.time(),
        )
        assert moved["status"] == "rejected"
        assert moved["reason"] == (
            "the case moved on: it is acknowledged at the edge, the command expected open"
        )
        bad = handle_command(node.ledger, node.cases, b'{"schema": "x"}', time.time())
        unknown = handle_command(
            node.ledger,
            node.cases,
            command("01JDW7Q5M2Z7X3V9K8T4R6N1PD", "open", command_id="01JDW7Q5M2Z7X3V9K8T4R6N1PE"),
            time.time(),
        )
        with node.ledger.reading() as db:
            refused = [
                r[0] for r in db.execute("SELECT action FROM audit WHERE action LIKE 'command.%'")
            ]
    assert bad["status"] == "rejected" and "not a valid sitewatch.command/1" in bad["reason"]
    assert unknown["status"] == "rejected" and "no alert" in unknown["reason"]
    assert refused == ["command.rejected", "command.rejected"]  # moved on, unknown alert


def post(hub: HubProcess, path: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        hub.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def hub_row(dsn: str, sql: str, *params: Any) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as db:
        return db.execute(sql, params).fetchone()


@contextmanager
def commands_consumer(node: Edge, port: int) -> Iterator[CommandConsumer]:
    stop = threading.Event()
    settings = BrokerSettings(HOST, port, f"edge-{node.site}", reconnect_max_s=2)
    consumer = CommandConsumer(settings, node.ledger, node.cases, _topics(node), stop)
    consumer.start()
    try:
        assert consumer.connected.wait(10)
        yield consumer
    finally:
        stop.set()
        consumer.join(5)


def _topics(node: Edge) -> Any:
    from alerts.contract import Topics

    return Topics("sw", node.site)


def applied(dsn: str, command_id: str) -> bool:
    row = hub_row(dsn, "SELECT status FROM commands WHERE command_id = %s", command_id)
    return row is not None and row[0] == "applied"


def test_cases_worked_from_the_centre(tmp_path: Path) -> None:
    with ExitStack() as stack:
        central = stack.enter_context(broker(tmp_path, "central"))
        pg = stack.enter_context(postgres())
        dsn = pg.create_database("hub")
        node = stack.enter_context(edge(tmp_path, "plant-a", central.port))
        other = stack.enter_context(edge(tmp_path, "plant-b", central.port))
        config = hub_config(
            tmp_path, dsn, central.port, {"plant-a": node.api_url, "plant-b": other.api_url}
        )
        hub = stack.enter_context(hub_process(config, "hub-1"))
        stack.enter_context(commands_consumer(node, central.port))
        alert_id = node.raise_alert()
        assert wait_until(
            lambda: hub_row(dsn, "SELECT 1 FROM alerts WHERE alert_id = %s", alert_id), 30
        )
        officer = OFFICER_TOKENS["plant-a"]
        actions = f"/api/alerts/{alert_id}/actions"
        assert (
            post(hub, actions, OFFICER_TOKENS["plant-b"], {"action": "acknowledge"}).status_code
            == 404
        )
        pending = post(hub, actions, officer, {"action": "acknowledge"})
        assert pending.status_code == 202 and pending.json()["status"] == "pending"
        assert wait_until(lambda: applied(dsn, pending.json()["command_id"]), 30), hub.log()[-2000:]
        assert node.ledger.alert(alert_id).workflow_state == "acknowledged"  # type: ignore[union-attr]
        assert hub_row(dsn, "SELECT workflow_state FROM alerts WHERE alert_id = %s", alert_id) == (
            "acknowledged",
        )
        # the supervised list: only the named supervisor closes it out
        deadline = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        listed = post(
            hub, f"/api/alerts/{alert_id}/supervise", SUPERVISOR_TOKEN, {"deadline": deadline}
        )
        assert listed.status_code == 201 and listed.json()["supervisor"] == "Li Wei"
        assert (
            post(
                hub, f"/api/alerts/{alert_id}/supervise", officer, {"deadline": deadline}
            ).status_code
            == 403
        )
        steps = [
            {"action": "assign", "owner": "Zhou (warehouse lead)", "deadline": deadline},
            {"action": "rectify", "note": "pallet moved off the exit"},
        ]
        for step in steps:
            sent = post(hub, actions, officer, step)
            assert sent.status_code == 202, sent.text
            assert wait_until(partial(applied, dsn, str(sent.json()["command_id"])), 30)
        node.end_alert(alert_id)
        refused = post(hub, actions, officer, {"action": "close"})
        assert refused.status_code == 403 and "only Li Wei" in refused.json()["detail"]
        closing = post(hub, actions, SUPERVISOR_TOKEN, {"action": "close"})
        assert closing.status_code == 202
        assert wait_until(lambda: applied(dsn, closing.json()["command_id"]), 30)
        assert wait_until(
            lambda: (
                hub_row(dsn, "SELECT closed_by FROM supervised WHERE alert_id = %s", alert_id)
                == ("Li Wei",)
            ),
            30,
        )
        board = hub.get("/api/supervised", SUPERVISOR_TOKEN).json()
        assert [row["alert_id"] for row in board] == [alert_id] and not board[0]["supervised"]
        assert hub.get("/api/supervised", OFFICER_TOKENS["plant-b"]).json() == []
        verify = hub.get("/api/audit/verify", STREET_TOKEN).json()
        actions_logged = [e["action"] for e in hub.get("/api/audit", STREET_TOKEN).json()]
    assert verify["ok"] and verify["checked"] == len(actions_logged)
    assert actions_logged.count("command.issued") == 4
    assert actions_logged.count("command.applied") == 4
    assert "supervised.listed" in actions_logged and "supervised.closed_out" in actions_logged


def test_a_command_queued_for_an_offline_edge_whose_case_moved_on_is_refused(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        central = stack.enter_context(broker(tmp_path, "central"))
        pg = stack.enter_context(postgres())
        dsn = pg.create_database("hub")
        node = stack.enter_context(edge(tmp_path, "plant-a", central.port))
        config = hub_config(tmp_path, dsn, central.port, {"plant-a": node.api_url})
        hub = stack.enter_context(hub_process(config, "hub-1"))
        with commands_consumer(node, central.port):
            pass  # its persistent session now exists: the broker queues commands for it
        alert_id = node.raise_alert()
        assert wait_until(
            lambda: hub_row(dsn, "SELECT 1 FROM alerts WHERE alert_id = %s", alert_id), 30
        )
        sent = post(
            hub,
            f"/api/alerts/{alert_id}/actions",
            OFFICER_TOKENS["plant-a"],
            {"action": "acknowledge"},
        )
        command_id = sent.json()["command_id"]
        assert wait_until(
            lambda: (
                (
                    hub_row(dsn, "SELECT sends FROM commands WHERE command_id = %s", command_id)
                    or (0,)
                )[0]
                >= 2
            ),
            30,
        )  # sent, and sent again: nobody answered
        node.cases.apply(
            alert_id, CaseRequest(Action.FALSE_POSITIVE, "site operator", note="a reflection")
        )
        with commands_consumer(node, central.port):
            assert wait_until(
                lambda: (
                    hub_row(dsn, "SELECT status FROM commands WHERE command_id = %s", command_id)
                    == ("rejected",)
                ),
                30,
            ), hub.log()[-2000:]
        reason = hub_row(dsn, "SELECT reason FROM commands WHERE command_id = %s", command_id)
        assert reason == (
            "the case moved on: it is false_positive at the edge, the command expected open",
        )
        assert wait_until(
            lambda: (
                hub_row(dsn, "SELECT workflow_state FROM alerts WHERE alert_id = %s", alert_id)
                == ("false_positive",)
            ),
            30,
        )
        assert hub.metric("sitewatch_hub_rejected_total") >= 1
        assert node.ledger.alert(alert_id).workflow_state == "false_positive"  # type: ignore[union-attr]


def test_overdue_cases_escalate_to_the_supervisor_then_the_street_office(tmp_path: Path) -> None:
    with postgres() as pg, edge(tmp_path, "plant-a", None) as node:
        dsn = pg.create_database("hub")
        config = load_hub_config(hub_config(tmp_path, dsn, 1883, {"plant-a": node.api_url}))
        alert_id = node.raise_alert()
        deadline = time.time() + 3600
        node.cases.apply(
            alert_id, CaseRequest(Action.ASSIGN, "op", owner="Zhou", deadline=deadline)
        )
        with psycopg.connect(dsn) as db:
            migrate(db)
            register_sites(db, [("plant-a", "north", "A")])
            with db.transaction():
                for text in event_payloads(node):
                    judged = judge_event("plant-a", frozenset({"plant-a"}), text.encode())
                    assert isinstance(judged, Event)
                    store_event(db, judged, "mqtt")
            due = datetime.fromtimestamp(deadline, UTC)
            assert escalate_overdue(db, config, due - timedelta(minutes=1)) == []
            assert escalate_overdue(db, config, due + timedelta(hours=1)) == [
                (alert_id, "supervisor", "Li Wei")
            ]
            assert escalate_overdue(db, config, due + timedelta(hours=2)) == []
            assert escalate_overdue(db, config, due + timedelta(hours=25)) == [
                (alert_id, "street_office", "Test street office")
            ]
            logged = [r[0] for r in db.execute("SELECT action FROM hub_audit")]
    assert logged == ["case.escalated", "case.escalated"]
