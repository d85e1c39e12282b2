"""The case workflow: one route per action; invalid transitions answer 409 with the reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from alerts.cases import CaseOutcome, CaseRequest
from alerts.photos import MAX_PHOTO_BYTES, PHOTO_TYPES
from alerts.workflow import Action
from sitewatch.api.auth import Principal
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import Context, Operator, Reader
from sitewatch.api.files import check_alert_id
from sitewatch.api.schemas import (
    ActionOut,
    AssignIn,
    CaseOut,
    CommentIn,
    NoteIn,
    PhotoOut,
    ReasonIn,
    RectifyIn,
)

router = APIRouter(prefix="/api/alerts/{alert_id}/case", tags=["cases"])
PHOTO_PATH = f"{router.prefix}/photos"  # bodies up to MAX_PHOTO_BYTES (``create_app``)
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert"},
    409: {"description": "The case's state does not allow this action (the reason says why)"},
    422: {"description": "Missing or invalid input"},
}


def _apply(context: ApiContext, alert_id: str, user: Principal, **fields: Any) -> dict[str, Any]:
    check_alert_id(alert_id)
    request = CaseRequest(actor=user.name, role=user.role.value, **fields)
    return outcome_body(context.cases.apply(alert_id, request))


def outcome_body(outcome: CaseOutcome) -> dict[str, Any]:
    """The response of an action."""
    return {
        "case": outcome.case.to_dict(),
        "event_id": outcome.event_id,
        "audit_seq": outcome.audit.seq,
        "audit_hash": outcome.audit.hash,
    }


@router.get(
    "", response_model=CaseOut, responses={404: ERRORS[404]}, summary="The case of an alert"
)
def get_case(alert_id: str, _user: Reader, context: Context) -> dict[str, Any]:
    """State, responsible person and deadline."""
    check_alert_id(alert_id)
    case = context.cases.case(alert_id)
    if case is None:
        raise HTTPException(404, f"no alert with id {alert_id}")
    return case.to_dict()


@router.post("/acknowledge", response_model=ActionOut, responses=ERRORS)
def acknowledge(alert_id: str, body: NoteIn, user: Operator, context: Context) -> dict[str, Any]:
    """An operator has seen the alert (open → acknowledged)."""
    return _apply(context, alert_id, user, action=Action.ACKNOWLEDGE, note=body.note)


@router.post("/assign", response_model=ActionOut, responses=ERRORS)
def assign(alert_id: str, body: AssignIn, user: Operator, context: Context) -> dict[str, Any]:
    """Dispatch to a responsible person with a deadline (→ assigned; escalates after it)."""
    return _apply(
        context,
        alert_id,
        user,
        action=Action.ASSIGN,
        owner=body.owner,
        deadline=body.deadline.timestamp(),
        note=body.note,
    )


@router.post("/comment", response_model=ActionOut, responses=ERRORS)
def comment(alert_id: str, body: CommentIn, user: Operator, context: Context) -> dict[str, Any]:
    """A comment in the trail (no state change)."""
    return _apply(context, alert_id, user, action=Action.COMMENT, note=body.text)


@router.post(
    PHOTO_PATH.removeprefix(router.prefix),
    response_model=PhotoOut,
    status_code=201,
    responses={
        **ERRORS,
        413: {"description": f"Larger than {MAX_PHOTO_BYTES} bytes"},
        415: {"description": "Not image/jpeg or image/png"},
        422: {"description": "Not a complete JPEG or PNG picture, or too many pixels"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in PHOTO_TYPES
            },
        }
    },
)
async def attach_photo(
    alert_id: str, request: Request, user: Operator, context: Context
) -> dict[str, Any]:
    """Attach a rectification photo (the raw JPEG or PNG as the body, which must decode
    completely; the picture is stored re-encoded); cite its name in rectify."""
    check_alert_id(alert_id)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in PHOTO_TYPES:
        raise HTTPException(415, f"photos must be image/jpeg or image/png, not {media_type!r}")
    if await run_in_threadpool(context.cases.case, alert_id) is None:
        raise HTTPException(404, f"no alert with id {alert_id}")
    data = await request.body()  # at most MAX_PHOTO_BYTES (413 beyond)
    outcome = await run_in_threadpool(
        context.cases.attach_photo, alert_id, user.name, user.role.value, data, media_type
    )
    photo = next(e for e in outcome.alert.evidence if e.name == outcome_photo(outcome))
    detail = outcome.audit.details
    return {
        **outcome_body(outcome),
        "name": photo.name,
        "sha256": photo.sha256,
        "upload_sha256": detail["upload_sha256"],
        "bytes": detail["bytes"],
        "width": detail["width"],
        "height": detail["height"],
        "media_type": media_type,
    }


def outcome_photo(outcome: CaseOutcome) -> str:
    """The name of the photo an attach_photo action stored."""
    return str(outcome.audit.details["photos"][0])


@router.post("/rectify", response_model=ActionOut, responses=ERRORS)
def rectify(alert_id: str, body: RectifyIn, user: Operator, context: Context) -> dict[str, Any]:
    """The responsible person removed the hazard (assigned/escalated → rectified)."""
    return _apply(
        context, alert_id, user, action=Action.RECTIFY, note=body.note, photos=tuple(body.photos)
    )


@router.post("/close", response_model=ActionOut, responses=ERRORS)
def close(alert_id: str, body: NoteIn, user: Operator, context: Context) -> dict[str, Any]:
    """Verified on site or on camera: close (rectified → closed; the incident must have
    ended)."""
    return _apply(context, alert_id, user, action=Action.CLOSE, note=body.note)


@router.post("/reopen", response_model=ActionOut, responses=ERRORS)
def reopen(alert_id: str, body: ReasonIn, user: Operator, context: Context) -> dict[str, Any]:
    """Reopen a rectified, closed or false-positive case (→ open, unassigned)."""
    return _apply(context, alert_id, user, action=Action.REOPEN, note=body.reason)


@router.post("/false-positive", response_model=ActionOut, responses=ERRORS)
def false_positive(
    alert_id: str, body: ReasonIn, user: Operator, context: Context
) -> dict[str, Any]:
    """Not a hazard (with the reason): the case ends as false_positive."""
    return _apply(context, alert_id, user, action=Action.FALSE_POSITIVE, note=body.reason)
