"""The shift handover of the duty desk: what came in during a shift, what is still open, and
who did what to which case (acknowledged, assigned, closed...), from the ledger and its audit
trail."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from alerts.contract import alert_document
from alerts.ledger import AlertFilter, read_alerts
from alerts.workflow import TERMINAL
from sitewatch.api.deps import Context, Reader
from sitewatch.api.errors import ApiError
from sitewatch.api.schemas import Instant

router = APIRouter(prefix="/api/handover", tags=["duty desk"])
MAX_ALERTS = 1000
MAX_SHIFT_S = 7 * 86400
DEFAULT_SHIFT_S = 12 * 3600


@router.get("", summary="Shift handover: alerts in, still open, case actions by whom")
def handover(
    _user: Reader,
    context: Context,
    since: Annotated[Instant | None, Query(description="Shift start (default: 12 h ago).")] = None,
    until: Annotated[Instant | None, Query(description="Shift end (default: now).")] = None,
) -> dict[str, Any]:
    """``came_in``: alerts started in [since, until), newest first; ``still_open``: every case
    not closed or marked false positive (whenever it started); ``actions``: case actions taken
    in the shift, oldest first, each with its actor, the case's move and the alert's hazard,
    camera and zone. At most 1000 alerts per list (``truncated`` says so)."""
    end = time.time() if until is None else until.timestamp()
    start = end - DEFAULT_SHIFT_S if since is None else since.timestamp()
    if not start < end:
        raise ApiError(422, "shift_empty", "since must lie before until")
    if end - start > MAX_SHIFT_S:
        raise ApiError(422, "shift_too_long", "a handover covers at most 7 days", days=7)
    ledger = context.ledger
    came_in = ledger.query_alerts(AlertFilter(started_from=start, started_to=end), MAX_ALERTS + 1)
    closed = tuple(state.value for state in TERMINAL)
    marks = ",".join("?" * len(closed))
    with ledger.reading() as db:
        still_open = read_alerts(
            db,
            f"WHERE workflow_state NOT IN ({marks}) ORDER BY started_at DESC LIMIT ?",
            (*closed, MAX_ALERTS + 1),
        )
        rows = db.execute(
            "SELECT a.seq, a.at, a.actor, a.action, a.alert_id, a.detail,"
            " l.hazard, l.camera, l.zone, l.severity FROM audit a JOIN alerts l USING (alert_id)"
            " WHERE a.action LIKE 'case.%' AND a.at >= ? AND a.at < ? ORDER BY a.seq LIMIT ?",
            (start, end, MAX_ALERTS + 1),
        ).fetchall()
    actions = []
    for row in rows[:MAX_ALERTS]:
        detail = json.loads(row[5])
        actions.append(
            {
                "seq": row[0],
                "at": row[1],
                "actor": row[2],
                "action": row[3].removeprefix("case."),
                "alert_id": row[4],
                "hazard": row[6],
                "camera": row[7],
                "zone": row[8],
                "severity": row[9],
                "from": detail.get("from"),
                "to": detail.get("to"),
                "owner": detail.get("owner"),
                "note": detail.get("note"),
            }
        )
    document = [alert_document(a, context.site, context.base_url) for a in came_in[:MAX_ALERTS]]
    return {
        "since": start,
        "until": end,
        "came_in": document,
        "still_open": [
            alert_document(a, context.site, context.base_url) for a in still_open[:MAX_ALERTS]
        ],
        "actions": actions,
        "truncated": max(len(came_in), len(still_open), len(rows)) > MAX_ALERTS,
    }
