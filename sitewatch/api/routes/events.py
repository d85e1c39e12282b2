"""The live event stream (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from sitewatch.api.deps import Context, Reader
from sitewatch.api.files import MAX_ID

router = APIRouter(tags=["events"])


@router.get(
    "/api/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        400: {"description": "Last-Event-ID is not an event id"},
    },
    summary="Live alert events (SSE)",
)
def stream_events(
    _user: Reader,
    context: Context,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Replay events after this id.")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Every alert event as it is stored (``event: alert``, ``id``: its position, ``data``:
    the MQTT payload). Reconnect with ``Last-Event-ID`` to miss nothing."""
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) > MAX_ID:
            raise HTTPException(400, "Last-Event-ID must be an event id (a number)")
        after = int(last_event_id)
    return StreamingResponse(
        context.hub.stream(after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
