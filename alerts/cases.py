"""Case workflow actions: each one validated by ``alerts.workflow`` and stored atomically with
its ``state`` event (MQTT outbox) and its audit entry."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alerts import audit
from alerts.contract import Topics, event_payload, iso
from alerts.evidence import write_atomically
from alerts.ledger import Ledger, event_seal, insert_event, read_alerts
from alerts.model import Alert, AlertChange, EventType, Evidence, EvidenceKind
from alerts.photos import PhotoError, verified_photo
from alerts.service import new_ulid
from alerts.text import UnsafeTextError, safe_text
from alerts.workflow import Action, TransitionError, next_state
from core.errors import SitewatchError
from core.vocabulary import CaseState

MAX_NOTE_CHARS = 4000


class CaseNotFoundError(SitewatchError, LookupError):
    """No alert with that id."""


class CaseInputError(SitewatchError, ValueError):
    """An action's input is incomplete or wrong (missing owner, deadline in the past...)."""


@dataclass(frozen=True, slots=True)
class Case:
    """The workflow side of an alert."""

    alert_id: str
    state: CaseState
    owner: str | None = None
    deadline: float | None = None
    escalated_at: float | None = None
    updated_at: float | None = None
    updated_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As served by the API (times in ISO 8601 UTC)."""
        return {
            "alert_id": self.alert_id,
            "state": self.state.value,
            "owner": self.owner,
            "deadline": iso(self.deadline),
            "escalated_at": iso(self.escalated_at),
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True, slots=True)
class CaseRequest:
    """One action with its input (fields unused by the action stay None)."""

    action: Action
    actor: str
    role: str = ""
    note: str | None = None
    owner: str | None = None
    deadline: float | None = None
    photos: tuple[str, ...] = ()
    command_id: str | None = None  # the fleet hub's command this action applies


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What an action stored."""

    alert: Alert
    case: Case
    event_id: str
    audit: audit.AuditEntry


def read_case(db: sqlite3.Connection, alert: Alert) -> Case:
    """The case of an alert (a fresh one when no action was taken yet)."""
    row = db.execute(
        "SELECT owner, deadline, escalated_at, updated_at, updated_by FROM cases"
        " WHERE alert_id = ?",
        (alert.alert_id,),
    ).fetchone()
    state = CaseState(alert.workflow_state)
    if row is None:
        return Case(alert.alert_id, state)
    return Case(alert.alert_id, state, *tuple(row))


class CaseService:
    """Applies workflow actions to cases."""

    def __init__(
        self,
        ledger: Ledger,
        topics: Topics,
        data_dir: Path,
        evidence_base_url: str,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_ulid,
        recorded: threading.Event | None = None,
    ) -> None:
        self._ledger = ledger
        self._topics = topics
        self._data_dir = data_dir
        self._base_url = evidence_base_url
        self._clock = clock
        self._new_id = new_id
        self._recorded = recorded  # set after each stored event (wakes the MQTT publisher)
        self._photo_lock = threading.Lock()

    def case(self, alert_id: str) -> Case | None:
        """The case of an alert, None for an unknown id."""
        with self._ledger.reading() as db:
            found = read_alerts(db, "WHERE alert_id = ?", (alert_id,))
            return read_case(db, found[0]) if found else None

    def apply(self, alert_id: str, request: CaseRequest) -> CaseOutcome:
        """Validate and store one action (CaseNotFoundError, TransitionError, CaseInputError)."""
        with self._ledger.transaction() as db:
            outcome = self._apply(db, alert_id, request, self._clock())
        self._wake()
        return outcome

    def apply_in(self, db: sqlite3.Connection, alert_id: str, request: CaseRequest) -> CaseOutcome:
        """``apply`` inside the caller's ledger transaction (with rows of its own, e.g. a
        command's idempotency record); call ``wake`` after the commit."""
        return self._apply(db, alert_id, request, self._clock())

    def wake(self) -> None:
        """Wake the MQTT publisher after a transaction that stored events."""
        self._wake()

    def attach_photo(
        self, alert_id: str, actor: str, role: str, data: bytes, media_type: str
    ) -> CaseOutcome:
        """Store a rectification photo as evidence of the alert: a JPEG or PNG that decodes
        completely, stored re-encoded (``alerts.photos``)."""
        try:
            photo_file = verified_photo(data, media_type)
        except PhotoError as error:
            raise CaseInputError(str(error)) from None
        extension, stored = photo_file.extension, photo_file.data
        digest = hashlib.sha256(stored).hexdigest()
        with self._photo_lock, self._ledger.transaction() as db:
            parts = db.execute(
                "SELECT coalesce(max(part), 0) FROM evidence WHERE alert_id = ? AND kind = ?",
                (alert_id, EvidenceKind.RECTIFICATION.value),
            ).fetchone()[0]
            part = int(parts) + 1
            relative = Path("evidence") / alert_id / f"rectification-{part}.{extension}"
            photo = Evidence(relative.as_posix(), digest, EvidenceKind.RECTIFICATION, part)
            request = CaseRequest(Action.ATTACH_PHOTO, actor, role, photos=(photo.name,))
            now = self._clock()
            self._check(db, alert_id, request, now)  # before anything is written
            write_atomically(self._data_dir / relative, stored)
            try:
                facts = {
                    "upload_sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(stored),
                    "width": photo_file.width,
                    "height": photo_file.height,
                }
                outcome = self._apply(db, alert_id, request, now, photo, facts)
                db.execute(
                    "INSERT INTO evidence (alert_id, kind, part, path, sha256, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (alert_id, photo.kind.value, part, photo.path, digest, now),
                )
            except BaseException:
                (self._data_dir / relative).unlink(missing_ok=True)
                raise
        self._wake()
        return outcome

    def escalate_overdue(self) -> list[CaseOutcome]:
        """Move every assigned case whose deadline passed to ``escalated``."""
        now = self._clock()
        with self._ledger.reading() as db:
            due = [
                row[0]
                for row in db.execute(
                    "SELECT a.alert_id FROM alerts a JOIN cases c USING (alert_id)"
                    " WHERE a.workflow_state = ? AND c.deadline <= ? ORDER BY c.deadline",
                    (CaseState.ASSIGNED.value, now),
                )
            ]
        done = []
        for alert_id in due:
            try:
                done.append(self.apply(alert_id, CaseRequest(Action.ESCALATE, audit.SYSTEM_ACTOR)))
            except (TransitionError, CaseInputError):
                continue  # rectified or reassigned meanwhile
        return done

    def _wake(self) -> None:
        if self._recorded is not None:
            self._recorded.set()

    def _check(
        self, db: sqlite3.Connection, alert_id: str, request: CaseRequest, now: float
    ) -> tuple[Alert, Case, CaseState]:
        found = read_alerts(db, "WHERE alert_id = ?", (alert_id,))
        if not found:
            raise CaseNotFoundError(f"no alert with id {alert_id}")
        alert = found[0]
        case = read_case(db, alert)
        to = next_state(case.state, request.action, alert.active)
        _check_input(db, request, case, now)
        return alert, case, to

    def _apply(
        self,
        db: sqlite3.Connection,
        alert_id: str,
        request: CaseRequest,
        now: float,
        photo: Evidence | None = None,
        photo_facts: Mapping[str, Any] | None = None,
    ) -> CaseOutcome:
        before, case, to = self._check(db, alert_id, request, now)
        after = replace(before, workflow_state=to)
        if photo is not None:
            after = after.with_evidence(photo)
        updated = _updated_case(case, request, to, now)
        db.execute("UPDATE alerts SET workflow_state = ? WHERE alert_id = ?", (to.value, alert_id))
        db.execute(
            """
            INSERT INTO cases (alert_id, owner, deadline, escalated_at, updated_at, updated_by)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (alert_id) DO UPDATE SET owner = excluded.owner,
                deadline = excluded.deadline, escalated_at = excluded.escalated_at,
                updated_at = excluded.updated_at, updated_by = excluded.updated_by
            """,
            (alert_id, updated.owner, updated.deadline, updated.escalated_at, now, request.actor),
        )
        note = request.note
        if request.action is Action.ESCALATE:
            note = f"deadline {iso(case.deadline)} passed"
        described = {
            "action": request.action.value,
            "actor": request.actor,
            "from": case.state.value,
            "to": to.value,
            "owner": updated.owner,
            "deadline": iso(updated.deadline),
            "note": note,
            "photos": list(request.photos),
        }
        if request.command_id is not None:
            described["command_id"] = request.command_id
        event_id = self._new_id()
        change = AlertChange(EventType.STATE, before, after)
        payload = event_payload(
            event_id, change, self._topics.site, now, self._base_url, case=described
        )
        payload = insert_event(
            db, event_id, alert_id, EventType.STATE.value, now, self._topics.alerts, payload
        )
        detail: dict[str, Any] = {
            **described,
            "role": request.role,
            **event_seal(event_id, payload, EventType.STATE, after),
        }
        if photo is not None:
            detail["photo_sha256"] = photo.sha256
            detail.update(photo_facts or {})
        entry = audit.append(
            db, now, request.actor, f"case.{request.action.value}", alert_id, detail
        )
        return CaseOutcome(after, updated, event_id, entry)


def _check_input(db: sqlite3.Connection, request: CaseRequest, case: Case, now: float) -> None:
    action, note = request.action, (request.note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise CaseInputError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    for name, text, multiline in (("note", note, True), ("owner", request.owner or "", False)):
        try:
            safe_text(text, multiline=multiline)
        except UnsafeTextError as error:
            raise CaseInputError(f"the {name} {error}") from None
    if action is Action.ASSIGN:
        if not (request.owner or "").strip():
            raise CaseInputError("assign needs the responsible person (owner)")
        if request.deadline is None or request.deadline <= now:
            raise CaseInputError("assign needs a deadline in the future")
    required = {
        Action.COMMENT: "a comment needs text",
        Action.RECTIFY: "mark rectified needs a note saying what was done",
        Action.REOPEN: "reopen needs a reason",
        Action.FALSE_POSITIVE: "a false positive needs a reason",
    }
    if action in required and not note:
        raise CaseInputError(required[action])
    if action is Action.ESCALATE and (case.deadline is None or case.deadline > now):
        raise TransitionError("the deadline has not passed")
    if action is Action.RECTIFY and request.photos:
        names = {
            row[0].rsplit("/", 1)[-1]
            for row in db.execute(
                "SELECT path FROM evidence WHERE alert_id = ? AND kind = ?",
                (case.alert_id, EvidenceKind.RECTIFICATION.value),
            )
        }
        unknown = sorted(set(request.photos) - names)
        if unknown:
            raise CaseInputError(
                f"no attached photo named {', '.join(unknown)} (attach photos first)"
            )


def _updated_case(case: Case, request: CaseRequest, to: CaseState, now: float) -> Case:
    moved = replace(case, state=to, updated_at=now, updated_by=request.actor)
    action = request.action
    if action is Action.ASSIGN:
        owner = (request.owner or "").strip()
        return replace(moved, owner=owner, deadline=request.deadline, escalated_at=None)
    if action is Action.ESCALATE:
        return replace(moved, escalated_at=now)
    if action is Action.REOPEN:
        return replace(moved, owner=None, deadline=None, escalated_at=None)
    return moved
