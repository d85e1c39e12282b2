"""Cameras: health and counters, the latest frame, and the reference image of clear exits."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import cv2
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse

from sitewatch.api.context import ApiContext
from sitewatch.api.deps import Context, Reader
from sitewatch.api.errors import ApiError
from sitewatch.api.schemas import CameraOut

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


def _known(context: ApiContext, name: str) -> None:
    if name not in context.camera_names():
        raise ApiError(404, "camera_not_found", f"no camera named {name!r}", camera=name)


@router.get("", response_model=list[CameraOut], summary="Every camera's health")
def list_cameras(_user: Reader, context: Context) -> list[dict[str, Any]]:
    """State (starting, online, stalled, offline, disabled) and counters of each camera."""
    return [asdict(status) for status in context.cameras()]


@router.get(
    "/{name}/frame",
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No such camera"}},
    summary="Latest frame (JPEG)",
)
def latest_frame(name: str, _user: Reader, context: Context) -> Response:
    """The newest decoded frame of the camera, as a JPEG (not cached)."""
    _known(context, name)
    image = context.latest_frame(name)
    if image is None:
        raise ApiError(404, "frame_not_ready", f"camera {name} has no frame yet", camera=name)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise HTTPException(404, f"the latest frame of camera {name} cannot be encoded")
    return Response(
        encoded.tobytes(), media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/{name}/reference",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "No camera or image"}},
    summary="Reference image of the clear exits",
)
def get_reference(name: str, _user: Reader, context: Context) -> FileResponse:
    """The reference image of the camera's clear exits (``X-Captured-At``: when taken)."""
    _known(context, name)
    stored = context.references.describe(name)
    if stored is None:
        raise HTTPException(
            404, f"camera {name} has no reference image yet (run sitewatch calibrate)"
        )
    path, captured_at = stored
    when = datetime.fromtimestamp(captured_at, UTC).isoformat(timespec="seconds")
    return FileResponse(path, media_type="image/png", headers={"X-Captured-At": when})
