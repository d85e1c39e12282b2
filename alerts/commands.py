"""Case commands from the fleet hub: the edge applies each one through its own workflow and
audit trail (``CaseService``), once per ``command_id``, and answers every copy with the same
result on ``…/<site>/commands/result``. The applied action's ``state`` event carries
``case.command_id``, so the hub shows the command pending until that event arrives. A command
whose case is no longer in ``expected_state`` (it moved on at the edge) is refused, so the hub
and the edge never diverge: the edge stays the source of truth for its cases."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from jsonschema import Draft202012Validator
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alerts import audit
from alerts.cases import CaseInputError, CaseNotFoundError, CaseRequest, CaseService
from alerts.contract import COMMAND_RESULT_SCHEMA, Topics, iso, load_schema
from alerts.ledger import Ledger, read_alerts
from alerts.mqtt_publisher import BrokerSettings, configure_client
from alerts.workflow import Action, TransitionError

log = logging.getLogger(__name__)
COMMAND_VALIDATOR = Draft202012Validator(load_schema("command.v1.json"))
SESSION_EXPIRY_S = 7 * 86400
TABLE = """
CREATE TABLE IF NOT EXISTS hub_commands (
    command_id TEXT PRIMARY KEY,
    alert_id TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    event_id TEXT,
    state TEXT,
    at REAL NOT NULL
)
"""


def prepare(ledger: Ledger) -> None:
    """The idempotency table (in the ledger's file, written in the action's transaction)."""
    with ledger.transaction() as db:
        db.execute(TABLE)


def handle_command(
    ledger: Ledger, cases: CaseService, payload: bytes, now: float
) -> dict[str, Any]:
    """Apply one command (or answer a copy of one already handled); returns the result."""
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _result("", None, "rejected", f"not UTF-8 JSON: {str(error)[:100]}", None, None, now)
    command_id = str(document.get("command_id", ""))[:64] if isinstance(document, dict) else ""
    errors = list(COMMAND_VALIDATOR.iter_errors(document))
    if errors:
        problem = f"not a valid sitewatch.command/1: {errors[0].message[:200]}"
        return _result(command_id, None, "rejected", problem, None, None, now)
    alert_id = str(document["alert_id"])
    with ledger.transaction() as db:
        known = db.execute(
            "SELECT alert_id, status, reason, event_id, state, at FROM hub_commands"
            " WHERE command_id = ?",
            (command_id,),
        ).fetchone()
        if known is not None:
            return _result(command_id, *tuple(known))
        status, reason, event_id, state = _apply(db, cases, document, now)
        db.execute(
            "INSERT INTO hub_commands (command_id, alert_id, status, reason, event_id, state, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (command_id, alert_id, status, reason, event_id, state, now),
        )
        if status == "rejected":
            audit.append(
                db,
                now,
                str(document["actor"]),
                "command.rejected",
                alert_id if state is not None else None,
                {"command_id": command_id, "action": document["action"], "reason": reason},
            )
    cases.wake()
    if status == "rejected":
        log.warning("hub command %s for alert %s refused: %s", command_id, alert_id, reason)
    else:
        log.info("hub command %s applied to alert %s (%s)", command_id, alert_id, state)
    return _result(command_id, alert_id, status, reason, event_id, state, now)


def _apply(
    db: sqlite3.Connection, cases: CaseService, command: dict[str, Any], now: float
) -> tuple[str, str | None, str | None, str | None]:
    found = read_alerts(db, "WHERE alert_id = ?", (command["alert_id"],))
    if not found:
        return "rejected", f"no alert with id {command['alert_id']} at this site", None, None
    state = found[0].workflow_state
    if state != command["expected_state"]:
        reason = (
            f"the case moved on: it is {state} at the edge, the command expected"
            f" {command['expected_state']}"
        )
        return "rejected", reason, None, state
    deadline = command.get("deadline")
    request = CaseRequest(
        Action(command["action"]),
        actor=str(command["actor"]),
        role="hub",
        note=command.get("note"),
        owner=command.get("owner"),
        deadline=None if deadline is None else _timestamp(deadline),
        command_id=str(command["command_id"]),
    )
    try:
        outcome = cases.apply_in(db, command["alert_id"], request)
    except (TransitionError, CaseInputError, CaseNotFoundError) as error:
        return "rejected", str(error), None, state
    return "applied", None, outcome.event_id, outcome.case.state.value


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _result(
    command_id: str,
    alert_id: str | None,
    status: str,
    reason: str | None,
    event_id: str | None,
    state: str | None,
    at: float,
) -> dict[str, Any]:
    return {
        "schema": COMMAND_RESULT_SCHEMA,
        "command_id": command_id,
        "alert_id": alert_id,
        "status": status,
        "reason": reason,
        "event_id": event_id,
        "state": state,
        "at": iso(at),
    }


class CommandConsumer(threading.Thread):
    """Subscribes to ``Topics.commands`` with a persistent session (commands sent while the
    edge is offline wait at its broker), applies each and publishes the result. A message is
    acknowledged after it was handled: a crash in between brings it again, and the
    idempotency record answers the copy."""

    def __init__(
        self,
        settings: BrokerSettings,
        ledger: Ledger,
        cases: CaseService,
        topics: Topics,
        stop: threading.Event,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(name="hub-commands", daemon=True)
        self._settings = settings
        self._ledger = ledger
        self._cases = cases
        self._topics = topics
        self._stop_event = stop
        self._clock = clock
        self.connected = threading.Event()
        self.handled = 0
        prepare(ledger)
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        s = self._settings
        protocol = mqtt.MQTTv5 if s.mqtt5 else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{s.client_id}-commands",
            protocol=protocol,
            clean_session=None if s.mqtt5 else False,
            manual_ack=True,
        )
        configure_client(client, s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def run(self) -> None:
        """Connect (retrying), handle commands until stop."""
        s = self._settings
        if s.mqtt5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            self.client.connect_async(
                s.host, s.port, keepalive=s.keepalive_s, clean_start=False, properties=properties
            )
        else:
            self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()
        try:
            self._stop_event.wait()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            log.warning("commands: broker refused the connection: %s", reason)
            return
        client.subscribe(self._topics.commands, qos=1)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        now = time.time() if self._clock is None else float(self._clock())
        try:
            result = handle_command(self._ledger, self._cases, bytes(message.payload), now)
        except sqlite3.Error as error:  # not acknowledged: the broker delivers it again
            log.error("commands: could not apply a command (it comes again): %s", error)
            return
        self.handled += 1
        client.publish(self._topics.command_results, json.dumps(result), qos=1)
        client.ack(message.mid, message.qos)
