"""A camera's zones as edited in the console (read by all, saved by admins with a version
check), and the capture of its clear-exit reference from the latest frame."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from alerts import audit
from core.vocabulary import ZoneKind
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import Admin, Context, Reader
from sitewatch.api.errors import ApiError
from sitewatch.api.schemas import Input
from sitewatch.config.zone_files import MAX_ZONES, ZoneError
from sitewatch.zone_editor import ZoneEditor, ZoneVersionError

router = APIRouter(prefix="/api/cameras", tags=["zones"])


class ZoneIn(Input):
    """One zone as drawn: points are fractions (0..1) of the picture's width and height."""

    name: str = Field(max_length=200)
    kind: ZoneKind
    points: list[tuple[float, float]] = Field(max_length=200)
    obstacle_classes: list[str] = Field(default_factory=list, max_length=50)


class ZonesIn(Input):
    """A camera's whole zone list, and the version it was drawn from."""

    version: int = Field(ge=0, description="The version read (GET); 409 when it moved on.")
    zones: list[ZoneIn] = Field(max_length=MAX_ZONES)


def _editor(context: ApiContext, camera: str) -> ZoneEditor:
    if camera not in context.camera_names():
        raise ApiError(404, "camera_not_found", f"no camera named {camera!r}", camera=camera)
    if context.zones is None:
        raise ApiError(404, "zones_unavailable", "this node does not edit zones")
    return context.zones


def _document(context: ApiContext, editor: ZoneEditor, camera: str) -> dict[str, Any]:
    stored = context.references.describe(camera)
    return {
        **editor.current(camera).to_dict(),
        "kinds": editor.kinds,
        "classes": editor.classes,
        "reference_at": None if stored is None else stored[1],
    }


@router.get("/{name}/zones", summary="A camera's zones, their version and the usable kinds")
def get_zones(name: str, _user: Reader, context: Context) -> dict[str, Any]:
    """``version`` (0: from the site YAML), ``source`` (config | file), ``zones``, who saved
    them when, the zone ``kinds`` this site can use, the ``classes`` its models find and when
    the clear-exit reference was captured (``reference_at``, null: none yet)."""
    return _document(context, _editor(context, name), name)


@router.put(
    "/{name}/zones",
    summary="Save a camera's zones (admin)",
    responses={409: {"description": "Saved by someone else since `version`"}},
)
def put_zones(name: str, body: ZonesIn, user: Admin, context: Context) -> dict[str, Any]:
    """Replace the camera's zones, checked with the rules of the configuration: at least 3
    corners, no crossing edges, inside the picture, unique names, kinds the site can use,
    obstacle classes its models find (422 with the code and the zone, nothing saved); 409 when
    the zones are no longer at ``version``. Applied from the analysis's next frame, written to
    ``<data_dir>/zones/<camera>.yaml`` and audited (``zones.saved``, before and after)."""
    editor = _editor(context, name)
    zones = [zone.model_dump() for zone in body.zones]
    try:
        editor.save(name, body.version, zones, user.name)
    except ZoneVersionError as error:
        raise ApiError(
            409, "zones_version_conflict", str(error), camera=name, current=error.current
        ) from None
    except ZoneError as error:
        first = error.problems[0]
        detail = "; ".join(str(p) for p in error.problems)
        raise ApiError(
            422, first.code, detail, path=first.path, problems=len(error.problems), **first.params
        ) from None
    return _document(context, editor, name)


@router.post(
    "/{name}/reference",
    summary="Capture the clear-exit reference from the latest frame (admin)",
)
def capture_reference(name: str, user: Admin, context: Context) -> dict[str, Any]:
    """What ``sitewatch calibrate`` does, from the console: the camera's newest frame becomes
    the reference its exit zones are compared with (the analysis reloads it), audited as
    ``reference.captured``."""
    editor = _editor(context, name)
    if not any(z.kind is ZoneKind.EXIT for z in editor.current(name).zones):
        raise ApiError(422, "reference_no_exit", f"camera {name} has no exit zone", camera=name)
    image = context.latest_frame(name)
    if image is None:
        raise ApiError(409, "reference_no_frame", f"camera {name} has no frame yet", camera=name)
    now = time.time()
    with context.ledger.transaction() as db:
        stored = context.references.save(name, image, now)
        detail = {"camera": name, "width": image.shape[1], "height": image.shape[0]}
        audit.append(db, now, user.name, "reference.captured", None, detail)
    return {
        "camera": name,
        "reference_at": stored.captured_at,
        "captured_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
    }
