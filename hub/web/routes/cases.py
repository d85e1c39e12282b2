"""Acting on cases from the centre (as commands to the owning edge), the supervised list
(挂牌督办) and the hub audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from hub import hub_audit
from hub.commands import CaseAction, CommandRefusedError, issue, parse_deadline
from hub.config import HubRole
from hub.web.context import Actor, Caller, Context, DbDep, StreetOffice, Supervisor
from hub.web.routes.alerts import ALERT_COLUMNS, ALERT_FROM, alert_row, find_alert

router = APIRouter(prefix="/api", tags=["cases"])


class ActionIn(BaseModel):
    """A case action for the owning edge."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=40)
    note: str | None = Field(default=None, max_length=4000)
    owner: str | None = Field(default=None, max_length=200)
    deadline: str | None = Field(default=None, max_length=40, description="ISO 8601")


class SuperviseIn(BaseModel):
    """Put a case on the supervised list."""

    model_config = ConfigDict(extra="forbid")
    supervisor: str | None = Field(
        default=None, max_length=100, description="Default: the caller (a supervisor)."
    )
    deadline: str = Field(max_length=40, description="ISO 8601: when it must be closed out.")
    note: str | None = Field(default=None, max_length=4000)


@router.post("/alerts/{alert_id}/actions", status_code=202, summary="Act on a case (command)")
def act(
    alert_id: str, body: ActionIn, person: Actor, context: Context, db: DbDep
) -> dict[str, Any]:
    """Send the action to the owning edge; pending until the edge's state event arrives."""
    try:
        request = CaseAction(body.action, body.note, body.owner, parse_deadline(body.deadline))
        issued = issue(db, person, alert_id, request)
    except CommandRefusedError as error:
        raise HTTPException(error.status, error.reason) from None
    context.wake_commands()
    return issued


@router.post("/alerts/{alert_id}/supervise", status_code=201, summary="List as supervised")
def supervise(
    alert_id: str, body: SuperviseIn, person: Supervisor, context: Context, db: DbDep
) -> dict[str, Any]:
    """挂牌督办: a named supervisor and a deadline; only that supervisor closes it out."""
    alert = find_alert(db, person, alert_id)
    grid = next(g for g in context.config.grids if alert["site"] in g.sites)
    name = body.supervisor or (
        person.name if person.role is HubRole.SUPERVISOR else grid.supervisor
    )
    holder = next((p for p in context.config.people if p.name == name), None)
    if holder is None or holder.role is not HubRole.SUPERVISOR or holder.grid != grid.id:
        raise HTTPException(422, f"{name[:100]!r} is not a supervisor of grid {grid.id}")
    try:
        deadline = parse_deadline(body.deadline)
    except CommandRefusedError as error:
        raise HTTPException(error.status, error.reason) from None
    assert deadline is not None
    if deadline <= datetime.now(UTC):
        raise HTTPException(422, "the deadline must be in the future")
    with db.transaction():
        listed = db.execute(
            "INSERT INTO supervised (alert_id, supervisor, deadline, listed_by, note)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (alert_id) DO UPDATE SET"
            " supervisor = excluded.supervisor, deadline = excluded.deadline,"
            " listed_by = excluded.listed_by, note = excluded.note, listed_at = now(),"
            " closed_at = NULL, closed_by = NULL WHERE supervised.closed_at IS NOT NULL"
            " RETURNING alert_id",
            (alert_id, name, deadline, person.name, body.note),
        ).fetchone()
        if listed is None:
            raise HTTPException(409, f"alert {alert_id} is already on the supervised list")
        hub_audit.append(
            db,
            person.name,
            "supervised.listed",
            alert_id,
            {
                "supervisor": name,
                "deadline": deadline.isoformat(),
                "note": body.note,
                "site": alert["site"],
            },
        )
    return {"alert_id": alert_id, "supervisor": name, "deadline": body.deadline}


@router.get("/supervised", summary="The supervised list (board)")
def supervised_board(person: Caller, db: DbDep) -> list[dict[str, Any]]:
    """Listed cases in scope, open ones first, by deadline."""
    rows = db.execute(
        f"SELECT {ALERT_COLUMNS} {ALERT_FROM} WHERE sv.alert_id IS NOT NULL"
        " AND a.site_id = ANY(%s) ORDER BY sv.closed_at IS NOT NULL, sv.deadline",
        (sorted(person.sites),),
    ).fetchall()
    return [alert_row(r) for r in rows]


@router.get("/audit", summary="The hub audit trail")
def audit_entries(
    _person: StreetOffice,
    db: DbDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Entries in seq order with their hashes."""
    rows = db.execute(
        "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM hub_audit"
        " WHERE seq > %s ORDER BY seq LIMIT %s",
        (after, limit),
    ).fetchall()
    keys = ("seq", "at", "actor", "action", "subject", "detail_text", "prev_hash", "hash")
    return [dict(zip(keys, r, strict=True)) for r in rows]


@router.get("/audit/verify", summary="Verify the hub audit chain")
def audit_verify(_person: StreetOffice, db: DbDep) -> dict[str, Any]:
    """Recompute every link and hash."""
    return hub_audit.verify(db).to_dict()
