"""The live view: the newest pictures of cameras with what the analysis saw on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from sitewatch.api.deps import Context, Reader
from sitewatch.api.errors import ApiError
from sitewatch.api.live_stream import MAX_CAMERAS, MEDIA_TYPE, LiveRequest, live_parts

router = APIRouter(prefix="/api/live", tags=["cameras"])


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "Parts: a JPEG and its X-Overlay"},
        404: {"description": "No such camera, or no live view on this node"},
    },
    summary="Live pictures with boxes, zones and exit shares (multipart/x-mixed-replace)",
)
def live(
    _user: Reader,
    context: Context,
    camera: Annotated[list[str], Query(min_length=1, description="Cameras to watch.")],
    fps: Annotated[float, Query(ge=0.2, le=10, description="Pictures per second.")] = 2.0,
    width: Annotated[int, Query(ge=160, le=1920, description="Largest picture width.")] = 640,
    quality: Annotated[int, Query(ge=30, le=95, description="JPEG quality.")] = 70,
) -> StreamingResponse:
    """One part per new frame of each camera (its JPEG, at most ``width`` wide, and an
    ``X-Overlay`` header with JSON: ``camera``, ``state``, ``frame_index``, ``frame_time``,
    ``frame_age_ms``, ``width``/``height`` of the picture, ``detections`` [{class, score, box:
    [x1, y1, x2, y2] as fractions of the picture}], ``zones`` [{name, kind, points}],
    ``exits`` [{zone, blocked_fraction, reason}], ``analysed_at``); an empty part once a
    second for a camera whose frame did not change. Nothing is encoded for cameras nobody
    watches; each frame is encoded once for all viewers of one size."""
    if context.live is None:
        raise ApiError(404, "live_unavailable", "this node has no live view (no cameras run)")
    wanted = tuple(dict.fromkeys(camera))
    if len(wanted) > MAX_CAMERAS:
        raise ApiError(
            422, "live_too_many_cameras", f"at most {MAX_CAMERAS} cameras", max=MAX_CAMERAS
        )
    known = context.camera_names()
    for name in wanted:
        if name not in known:
            raise ApiError(404, "camera_not_found", f"no camera named {name!r}", camera=name)
    parts = live_parts(
        LiveRequest(wanted, fps, width, quality),
        context.live,
        context.cameras,
        context.jpegs,
        context.live_figures,
    )
    return StreamingResponse(
        parts,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
