"""Case actions taken at the centre. The edge that owns a case is its only source of truth:
an action becomes a command (``sitewatch.command/1`` on ``…/<site>/commands``, QoS 1, its
``command_id`` the idempotency key) and stays *pending* until the edge's ``state`` event
carrying that command_id arrives (or the edge's result refuses it). Commands are sent again
until they settle, so an edge that is offline gets them when it returns; one pending command
per case at a time, with the state the operator saw as ``expected_state``, so the edge refuses
a command whose case moved on and the two never diverge."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from jsonschema import Draft202012Validator
from ulid import ULID

from alerts.contract import COMMAND_SCHEMA, load_schema
from core.errors import SitewatchError
from core.vocabulary import CaseState
from hub import hub_audit
from hub.config import HubConfig, HubRole
from hub.db_loop import DbLoop
from hub.intake import Event, Rejected, Rejection, parse_time
from hub.metrics import HubMetrics
from hub.store import Db, record_rejection
from hub.web.auth import Person

log = logging.getLogger(__name__)
RESULT_VALIDATOR = Draft202012Validator(load_schema("command-result.v1.json"))
ACTIONS = ("acknowledge", "assign", "comment", "rectify", "close", "reopen", "false_positive")


class CommandRefusedError(SitewatchError):
    """The hub will not issue this command (status: 403, 404, 409 or 422)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CaseAction:
    """What an operator at the centre asks for."""

    action: str
    note: str | None = None
    owner: str | None = None
    deadline: datetime | None = None


def iso(moment: datetime) -> str:
    """The contract's timestamp form."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def issue(db: Db, person: Person, alert_id: str, request: CaseAction) -> dict[str, Any]:
    """Check and record a command (pending) with its hub audit entry; the sender publishes it."""
    if request.action not in ACTIONS:
        raise CommandRefusedError(422, f"unknown action {request.action[:40]!r}")
    if person.role is HubRole.VIEWER:
        raise CommandRefusedError(403, "a viewer may not act on cases")
    with db.transaction():
        row = db.execute(
            "SELECT a.site_id, a.workflow_state, sv.supervisor, sv.closed_at FROM alerts a"
            " LEFT JOIN supervised sv USING (alert_id) WHERE a.alert_id = %s FOR UPDATE OF a",
            (alert_id,),
        ).fetchone()
        if row is None or not person.sees(row[0]):
            raise CommandRefusedError(404, f"no alert with id {alert_id[:40]} in your scope")
        site, state, supervisor, closed_at = row
        listed = supervisor is not None and closed_at is None
        if request.action == "close" and listed and person.name != supervisor:
            raise CommandRefusedError(
                403, f"this case is on the supervised list: only {supervisor} may close it out"
            )
        pending = db.execute(
            "SELECT command_id, action FROM commands WHERE alert_id = %s AND status = 'pending'",
            (alert_id,),
        ).fetchone()
        if pending is not None:
            raise CommandRefusedError(
                409, f"command {pending[0]} ({pending[1]}) is still pending at {site}; wait for it"
            )
        command_id = str(ULID())
        params = {
            "note": request.note,
            "owner": request.owner,
            "deadline": None if request.deadline is None else iso(request.deadline),
        }
        db.execute(
            "INSERT INTO commands (command_id, site_id, alert_id, action, params, actor,"
            " expected_state) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (command_id, site, alert_id, request.action, json.dumps(params), person.name, state),
        )
        hub_audit.append(
            db,
            person.name,
            "command.issued",
            alert_id,
            {
                "command_id": command_id,
                "site": site,
                "action": request.action,
                "expected_state": state,
                "role": person.role.value,
                **params,
            },
        )
    return {"command_id": command_id, "site": site, "status": "pending", "expected_state": state}


def command_payload(row: tuple[Any, ...]) -> str:
    """The ``sitewatch.command/1`` text of a stored command."""
    command_id, alert_id, action, params, actor, expected, created_at = row
    document = {
        "schema": COMMAND_SCHEMA,
        "command_id": command_id,
        "alert_id": alert_id,
        "action": action,
        "actor": f"{actor} (hub)",
        "expected_state": expected,
        "note": params.get("note"),
        "owner": params.get("owner"),
        "deadline": params.get("deadline"),
        "issued_at": iso(created_at),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def settle_from_event(db: Db, event: Event, metrics: HubMetrics) -> None:
    """A state event carrying a command_id settles that command (same transaction)."""
    case = event.document.get("case") or {}
    command_id = case.get("command_id")
    if event.document["type"] != "state" or not command_id:
        return
    row = db.execute(
        "UPDATE commands SET status = 'applied', event_id = %s, settled_at = now(), reason = NULL"
        " WHERE command_id = %s AND site_id = %s AND status <> 'applied'"
        " RETURNING action, actor, alert_id",
        (event.event_id, command_id, event.site),
    ).fetchone()
    if row is None:
        return
    action, actor, alert_id = row
    metrics.add("sitewatch_hub_commands_settled_total", label=("outcome", "applied"))
    hub_audit.append(
        db,
        "sitewatch-hub",
        "command.applied",
        alert_id,
        {"command_id": command_id, "event_id": event.event_id, "to": case.get("to")},
    )
    if action == "close" and case.get("to") == CaseState.CLOSED.value:
        closed = db.execute(
            "UPDATE supervised SET closed_at = now(), closed_by = %s"
            " WHERE alert_id = %s AND closed_at IS NULL RETURNING supervisor",
            (actor, alert_id),
        ).fetchone()
        if closed is not None:
            hub_audit.append(
                db, actor, "supervised.closed_out", alert_id, {"command_id": command_id}
            )


def settle_from_result(db: Db, site: str, payload: bytes, metrics: HubMetrics) -> None:
    """The edge's answer: a refusal settles the command as rejected (with the reason)."""
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if document is None or list(RESULT_VALIDATOR.iter_errors(document)):
        rejected = Rejected(Rejection.SCHEMA, "not a valid sitewatch.command-result/1", site)
        metrics.add("sitewatch_hub_rejected_total", label=("reason", rejected.reason))
        record_rejection(db, f"{site}/commands/result", rejected, None)
        return
    if document["status"] != "rejected":
        return  # applied: the state event settles it (it carries the command_id)
    row = db.execute(
        "UPDATE commands SET status = 'rejected', reason = %s, settled_at = now()"
        " WHERE command_id = %s AND site_id = %s AND status = 'pending' RETURNING alert_id",
        (document["reason"], document["command_id"], site),
    ).fetchone()
    if row is None:
        return
    log.warning("command %s refused by %s: %s", document["command_id"], site, document["reason"])
    metrics.add("sitewatch_hub_commands_settled_total", label=("outcome", "rejected"))
    metrics.add("sitewatch_hub_rejected_total", label=("reason", Rejection.COMMAND_REJECTED))
    hub_audit.append(
        db,
        "sitewatch-hub",
        "command.rejected",
        row[0],
        {
            "command_id": document["command_id"],
            "reason": document["reason"],
            "state_at_edge": document["state"],
        },
    )


class CommandSender(DbLoop):
    """Publishes pending commands, again every ``escalation.command_resend_s`` until they
    settle (rows claimed with SKIP LOCKED: several hubs never send one at once)."""

    what = "commands"

    def __init__(
        self,
        config: HubConfig,
        client: mqtt.Client,
        connect: Callable[[], Db],
        metrics: HubMetrics,
        stop: threading.Event,
        wake: threading.Event,
    ) -> None:
        super().__init__("hub-commands", connect, metrics, stop)
        self._config = config
        self._client = client
        self._wake = wake

    def send_due(self, db: Db) -> int:
        """Publish every pending command not sent within the resend period."""
        resend = timedelta(seconds=self._config.escalation.command_resend_s)
        sent = 0
        with db.transaction():
            rows = db.execute(
                "SELECT command_id, alert_id, action, params, actor, expected_state, created_at,"
                " site_id FROM commands WHERE status = 'pending'"
                " AND (sent_at IS NULL OR sent_at < %s) ORDER BY created_at LIMIT 200"
                " FOR UPDATE SKIP LOCKED",
                (datetime.now(UTC) - resend,),
            ).fetchall()
            for row in rows:
                topic = f"{self._config.mqtt.topic_prefix}/{row[7]}/commands"
                info = self._client.publish(topic, command_payload(row[:7]), qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # not connected: sent once we are
                db.execute(
                    "UPDATE commands SET sent_at = now(), sends = sends + 1 WHERE command_id = %s",
                    (row[0],),
                )
                sent += 1
        self._metrics.add("sitewatch_hub_commands_sent_total", sent)
        return sent

    def step(self, db: Db) -> float:
        self.send_due(db)
        return min(1.0, self._config.escalation.command_resend_s)

    def pause(self, seconds: float) -> None:
        self._wake.wait(seconds)  # a new command wakes the sender at once
        self._wake.clear()


def parse_deadline(text: str | None) -> datetime | None:
    """An ISO 8601 deadline from the API (422 when malformed)."""
    if text is None:
        return None
    try:
        moment = parse_time(text)
    except ValueError:
        raise CommandRefusedError(422, "deadline must be ISO 8601 (2026-12-01T16:00:00Z)") from None
    if moment.tzinfo is None:
        raise CommandRefusedError(422, "deadline needs a time zone (Z or +08:00)")
    return moment
