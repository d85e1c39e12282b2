"""Alerts: filtered lists with cursor pagination, one alert with its case and events, and
its evidence files."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from alerts.cases import read_case
from alerts.contract import alert_document
from alerts.ledger import AlertFilter, read_alerts
from alerts.model import Alert, Evidence
from core.vocabulary import CaseState, Hazard
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import Context, Reader
from sitewatch.api.files import check_alert_id, evidence_response
from sitewatch.api.schemas import AlertDetailOut, AlertOut, Instant

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "video/mp4": {}}},
    206: {"description": "Partial content (Range)"},
    304: {"description": "Not modified (If-None-Match matched the SHA-256 ETag)"},
    404: {"description": "No such alert or file"},
    410: {"description": "Removed by retention"},
    416: {"description": "Range outside the file"},
}


def encode_cursor(alert: Alert) -> str:
    """Opaque keyset cursor: the start time and id of the last alert of a page."""
    raw = json.dumps([alert.started_at, alert.alert_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The keyset of a cursor, or 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started_at, alert_id = json.loads(raw)
        if isinstance(started_at, bool) or not isinstance(started_at, int | float):
            raise TypeError(started_at)
        if not isinstance(alert_id, str):
            raise TypeError(alert_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise HTTPException(400, "invalid cursor (use the one from the Link header)") from None
    return float(started_at), alert_id


@router.get(
    "",
    response_model=list[AlertOut],
    summary="Alerts, newest first",
    responses={
        200: {"headers": {"Link": {"description": 'Next page: <url>; rel="next"'}}},
        400: {"description": "Malformed cursor"},
    },
)
def list_alerts(
    request: Request,
    response: Response,
    _user: Reader,
    context: Context,
    camera: Annotated[str | None, Query(max_length=63)] = None,
    hazard: Hazard | None = None,
    state: CaseState | None = None,
    since: Annotated[Instant | None, Query(description="Started at or after.")] = None,
    until: Annotated[Instant | None, Query(description="Started before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    """Alerts filtered by camera, hazard, workflow state and start time; the ``Link``
    header (and ``X-Next-Cursor``) leads to the next page."""
    where = AlertFilter(
        camera=camera,
        hazard=None if hazard is None else hazard.value,
        state=None if state is None else state.value,
        started_from=None if since is None else since.timestamp(),
        started_to=None if until is None else until.timestamp(),
    )
    before = None if cursor is None else decode_cursor(cursor)
    alerts = context.ledger.query_alerts(where, limit, before)
    if len(alerts) == limit:
        following = encode_cursor(alerts[-1])
        url = request.url.include_query_params(cursor=following)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
        response.headers["X-Next-Cursor"] = following
    return [alert_document(a, context.site, context.base_url) for a in alerts]


def find_alert(context: ApiContext, alert_id: str) -> Alert:
    """The alert, or 404."""
    check_alert_id(alert_id)
    alert = context.ledger.alert(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert with id {alert_id}")
    return alert


@router.get("/{alert_id}", response_model=AlertDetailOut, summary="One alert with its events")
def get_alert(alert_id: str, _user: Reader, context: Context) -> dict[str, Any]:
    """The alert, its case (owner, deadline) and every event, oldest first."""
    check_alert_id(alert_id)
    with context.ledger.reading() as db:
        found = read_alerts(db, "WHERE alert_id = ?", (alert_id,))
        if not found:
            raise HTTPException(404, f"no alert with id {alert_id}")
        case = read_case(db, found[0])
    return {
        **alert_document(found[0], context.site, context.base_url),
        "case": case.to_dict(),
        "events": context.ledger.events(alert_id),
    }


def _serve(
    request: Request,
    context: ApiContext,
    alert_id: str,
    pick: Callable[[Alert], Evidence | None],
    what: str,
) -> Response:
    alert = find_alert(context, alert_id)
    return evidence_response(request, context.data_dir, alert_id, pick(alert), what)


@router.get("/{alert_id}/snapshot", responses=FILE_RESPONSES, summary="Start snapshot (JPEG)")
def get_snapshot(alert_id: str, request: Request, _user: Reader, context: Context) -> Response:
    """The clean snapshot taken when the incident started."""
    return _serve(request, context, alert_id, lambda a: a.snapshot, "snapshot")


@router.get("/{alert_id}/clip", responses=FILE_RESPONSES, summary="Latest clip part (MP4)")
def get_clip(alert_id: str, request: Request, _user: Reader, context: Context) -> Response:
    """The latest finished clip part (H.264 MP4, byte ranges supported)."""
    return _serve(request, context, alert_id, lambda a: a.clip, "clip")


@router.get("/{alert_id}/evidence/{name}", responses=FILE_RESPONSES, summary="Evidence file")
def get_evidence(
    alert_id: str, name: str, request: Request, _user: Reader, context: Context
) -> Response:
    """Any evidence file of the alert by name (``peak.jpg``, ``clip-2.mp4``...)."""

    def by_name(alert: Alert) -> Evidence | None:
        return next((e for e in alert.evidence if e.name == name), None)

    return _serve(request, context, alert_id, by_name, f"evidence file {name!r}")
