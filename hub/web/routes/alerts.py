"""Sites and alerts across the fleet, filtered to the caller's scope; evidence files."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse

from core.vocabulary import CaseState, Hazard
from hub.store import Db
from hub.web.auth import Person
from hub.web.context import Caller, Context, DbDep

router = APIRouter(prefix="/api", tags=["fleet"])
ALERT_COLUMNS = (
    "a.alert_id, a.site_id, s.grid_id, a.camera, a.zone, a.hazard, a.severity, a.active,"
    " a.started_at, a.ended_at, a.workflow_state, a.owner, a.deadline, a.last_event_at,"
    " sv.supervisor, sv.deadline, sv.closed_at,"
    " (SELECT max(level) FROM escalations e WHERE e.alert_id = a.alert_id),"
    " (SELECT count(*) FROM commands c WHERE c.alert_id = a.alert_id AND c.status = 'pending')"
)
ALERT_FROM = "FROM alerts a JOIN sites s USING (site_id) LEFT JOIN supervised sv USING (alert_id)"


def alert_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """One alert as the API serves it."""
    keys = (
        "alert_id",
        "site",
        "grid",
        "camera",
        "zone",
        "hazard",
        "severity",
        "active",
        "started_at",
        "ended_at",
        "workflow_state",
        "owner",
        "deadline",
        "updated_at",
        "supervisor",
        "supervised_deadline",
        "supervised_closed_at",
        "escalation",
        "pending_commands",
    )
    document = dict(zip(keys, row, strict=True))
    for key, value in document.items():
        if isinstance(value, datetime):
            document[key] = value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document["supervised"] = row[14] is not None and row[16] is None
    return document


def find_alert(db: Db, person: Person, alert_id: str) -> dict[str, Any]:
    """The alert if the caller's scope holds it, else 404 (another site's alert is not
    acknowledged to exist)."""
    row = db.execute(f"SELECT {ALERT_COLUMNS} {ALERT_FROM} WHERE a.alert_id = %s", (alert_id,))
    found = row.fetchone()
    if found is None or not person.sees(found[1]):
        raise HTTPException(404, f"no alert with id {alert_id[:40]} in your scope")
    return alert_row(found)


@router.get("/me", summary="Who the token belongs to")
def me(person: Caller, context: Context) -> dict[str, Any]:
    """Name, role, scope, the sites it covers and the street office's name."""
    return {
        "name": person.name,
        "role": person.role.value,
        "scope": person.scope,
        "sites": sorted(person.sites),
        "street_office": context.config.street_office.name,
    }


@router.get("/grids", summary="Grids in scope")
def grids(person: Caller, context: Context) -> list[dict[str, Any]]:
    """Each grid holding a site of the scope: name, supervisor and those of its sites the
    caller sees (a site officer gets their site's grid with that one site)."""
    return [
        {
            "grid": grid.id,
            "name": grid.name,
            "supervisor": grid.supervisor,
            "sites": [s for s in grid.sites if person.sees(s)],
        }
        for grid in context.config.grids
        if any(person.sees(s) for s in grid.sites)
    ]


@router.get("/sites", summary="Sites in scope with their sync state")
def sites(person: Caller, context: Context, db: DbDep) -> list[dict[str, Any]]:
    """Each site of the scope: grid, name, how far its audit trail is verified, gaps and
    errors, open cases."""
    rows = db.execute(
        "SELECT s.site_id, s.grid_id, s.name, y.verified_seq, y.head_seq, y.last_error,"
        " y.chain_broken, (SELECT count(*) FROM missing_events m WHERE m.site_id = s.site_id"
        " AND m.filled_at IS NULL), (SELECT count(*) FROM alerts a WHERE a.site_id = s.site_id"
        " AND a.workflow_state NOT IN ('closed', 'false_positive'))"
        " FROM sites s JOIN site_sync y USING (site_id) WHERE s.site_id = ANY(%s) ORDER BY 2, 1",
        (sorted(person.sites),),
    ).fetchall()
    keys = (
        "site",
        "grid",
        "name",
        "verified_seq",
        "head_seq",
        "sync_error",
        "chain_broken",
        "missing_events",
        "open_cases",
    )
    zones = {s.id: s.timezone for s in context.config.sites}
    return [{**dict(zip(keys, r, strict=True)), "timezone": zones[r[0]]} for r in rows]


@router.get("/alerts", summary="Alerts across the sites in scope, newest first")
def list_alerts(
    person: Caller,
    db: DbDep,
    grid: Annotated[str | None, Query(max_length=63)] = None,
    site: Annotated[str | None, Query(max_length=63)] = None,
    hazard: Hazard | None = None,
    state: CaseState | None = None,
    supervised: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Filtered by grid, site, hazard, workflow state and supervised listing."""
    conditions, params = ["a.site_id = ANY(%s)"], [sorted(person.sites)]
    for column, value in (("s.grid_id", grid), ("a.site_id", site)):
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)  # type: ignore[arg-type]
    if hazard is not None:
        conditions.append("a.hazard = %s")
        params.append(hazard.value)  # type: ignore[arg-type]
    if state is not None:
        conditions.append("a.workflow_state = %s")
        params.append(state.value)  # type: ignore[arg-type]
    if supervised is not None:
        conditions.append(
            "(sv.alert_id IS NOT NULL AND sv.closed_at IS NULL)"
            if supervised
            else "(sv.alert_id IS NULL OR sv.closed_at IS NOT NULL)"
        )
    rows = db.execute(
        f"SELECT {ALERT_COLUMNS} {ALERT_FROM} WHERE {' AND '.join(conditions)}"
        " ORDER BY a.started_at DESC, a.alert_id DESC LIMIT %s",
        (*params, limit),
    ).fetchall()
    return [alert_row(r) for r in rows]


@router.get("/alerts/{alert_id}", summary="One alert: events, evidence, commands, listing")
def get_alert(alert_id: str, person: Caller, context: Context, db: DbDep) -> dict[str, Any]:
    """Everything the hub holds about one alert, with its site's time zone and scores."""
    alert = find_alert(db, person, alert_id)
    site = next(s for s in context.config.sites if s.id == alert["site"])
    document = db.execute("SELECT document FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()
    reported: dict[str, Any] = document[0] if document else {}
    extra = {
        "timezone": site.timezone,
        "score": reported.get("score"),
        "peak_score": reported.get("peak_score"),
    }
    events = [
        {"event_id": r[0], "type": r[1], "source": r[2], "payload": r[3]}
        for r in db.execute(
            "SELECT event_id, type, source, payload FROM events WHERE alert_id = %s"
            " ORDER BY created_at, event_id",
            (alert_id,),
        )
    ]
    evidence = [
        {
            "name": r[0],
            "kind": r[1],
            "part": r[2],
            "sha256": r[3],
            "fetched": r[4] is not None,
            "attempts": r[5],
            "last_error": r[6],
            "gone": r[7],
            "url": f"/api/alerts/{alert_id}/evidence/{r[0]}" if r[4] is not None else None,
        }
        for r in db.execute(
            "SELECT name, kind, part, sha256, fetched_at, attempts, last_error, gone"
            " FROM evidence WHERE alert_id = %s ORDER BY kind, part",
            (alert_id,),
        )
    ]
    refusals = edge_refusals(db, alert_id)
    commands = [
        {
            "command_id": r[0],
            "action": r[1],
            "actor": r[2],
            "status": r[3],
            "reason": r[4],
            "created_at": r[5].isoformat(),
            "expected_state": r[6],
            **refusal_code(r[3], r[6], refusals.get(r[0])),
        }
        for r in db.execute(
            "SELECT command_id, action, actor, status, reason, created_at, expected_state"
            " FROM commands WHERE alert_id = %s ORDER BY created_at",
            (alert_id,),
        )
    ]
    return {**alert, **extra, "events": events, "evidence": evidence, "commands": commands}


def edge_refusals(db: Db, alert_id: str) -> dict[str, str | None]:
    """command_id -> the case's state at the edge when it refused the command (from the hub
    audit trail's ``command.rejected`` entries)."""
    found: dict[str, str | None] = {}
    for (text,) in db.execute(
        "SELECT detail FROM hub_audit WHERE subject = %s AND action = 'command.rejected'",
        (alert_id,),
    ):
        detail = json.loads(text)
        found[str(detail.get("command_id"))] = detail.get("state_at_edge")
    return found


def refusal_code(status: str, expected: str, state_at_edge: str | None) -> dict[str, Any]:
    """A refused command's error code and params (the console words them in the user's
    language): ``command_case_moved_on`` when the case was no longer in the state the operator
    saw, else ``command_refused``; nothing for other commands."""
    if status != "rejected":
        return {}
    if state_at_edge is not None and state_at_edge != expected:
        return {"code": "command_case_moved_on", "params": {"state": state_at_edge}}
    return {"code": "command_refused", "params": {}}


@router.get("/alerts/{alert_id}/evidence/{name}", summary="An evidence file kept at the centre")
def get_evidence(
    alert_id: str, name: str, person: Caller, context: Context, db: DbDep
) -> FileResponse:
    """The file as fetched and verified (its SHA-256 is the ETag)."""
    alert = find_alert(db, person, alert_id)
    row = db.execute(
        "SELECT stored_key, sha256, fetched_at, attempts, last_error FROM evidence"
        " WHERE alert_id = %s AND name = %s",
        (alert_id, name),
    ).fetchone()
    if row is None:
        raise HTTPException(404, f"alert {alert_id} has no evidence file {name[:80]!r}")
    key, sha256, fetched_at, attempts, last_error = row
    path = None if fetched_at is None else context.evidence.path(key)
    if path is None:
        why = f" (after {attempts} attempt(s): {last_error})" if last_error else ""
        raise HTTPException(404, f"{name} of {alert['site']} is not at the centre yet{why}")
    media = (
        "video/mp4"
        if name.endswith(".mp4")
        else "image/png"
        if name.endswith(".png")
        else "image/jpeg"
    )
    return FileResponse(path, media_type=media, headers={"ETag": f'"{sha256}"'})
