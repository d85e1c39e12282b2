"""Request and response bodies of the API (separate input and output models)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from alerts.cases import MAX_NOTE_CHARS
from alerts.text import safe_text
from core.vocabulary import CaseState


def _in_utc(value: datetime) -> datetime:
    """The same instant in UTC; refused when UTC cannot hold it (past 9999-12-31)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time lies outside years 1 to 9999 in UTC") from None


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A time with a time zone (ISO 8601) that UTC can hold."""
Text = Annotated[str, AfterValidator(partial(safe_text, multiline=True))]
"""Free text (notes): line breaks kept as \n; control characters, bidirectional controls and
lone surrogates refused (``alerts.text``)."""
Line = Annotated[str, AfterValidator(partial(safe_text, multiline=False))]
"""One line of free text (names)."""

Note = Field(default=None, max_length=MAX_NOTE_CHARS, description="Free text for the trail.")


class Input(BaseModel):
    """Request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoteIn(Input):
    """Acknowledge or verify-and-close, with an optional note."""

    note: Text | None = Note


class AssignIn(Input):
    """Hand the case to a responsible person with a deadline."""

    owner: Line = Field(min_length=1, max_length=200, description="The responsible person.")
    deadline: Instant = Field(description="When it must be rectified (with time zone).")
    note: Text | None = Note


class CommentIn(Input):
    """A comment on the case."""

    text: Text = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class RectifyIn(Input):
    """The hazard was removed: what was done, and the attached photos that show it."""

    note: Text = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    photos: list[Annotated[Line, Field(max_length=100)]] = Field(
        default_factory=list, max_length=20, description="Names returned by the photo upload."
    )


class ReasonIn(Input):
    """Reopen or mark as false positive: why."""

    reason: Text = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class Output(BaseModel):
    """Response bodies."""

    model_config = ConfigDict(extra="forbid")


class EvidenceLink(Output):
    """A served evidence file and its digest."""

    url: str | None
    sha256: str
    part: int | None = None
    started_at: str | None = None
    ended_at: str | None = None


class EvidenceFile(Output):
    """One evidence file of an alert (``url`` null once retention removed it)."""

    kind: str
    part: int
    sha256: str
    url: str | None
    removed_at: str | None


class AlertOut(Output):
    """An alert as published over MQTT (see alerts/schemas/alert-event.v1.json)."""

    alert_id: str
    site: str
    camera: str
    zone: str
    hazard: str
    severity: str
    score: float
    peak_score: float
    active: bool
    started_at: str
    updated_at: str
    ended_at: str | None
    workflow_state: CaseState
    boxes: list[dict[str, Any]]
    snapshot: EvidenceLink | None
    clip: EvidenceLink | None
    evidence: list[EvidenceFile]
    details: dict[str, Any]


class CaseOut(Output):
    """The workflow side of an alert."""

    alert_id: str
    state: CaseState
    owner: str | None
    deadline: str | None
    escalated_at: str | None
    updated_at: str | None
    updated_by: str | None


class AlertDetailOut(AlertOut):
    """One alert with its case and every stored event (oldest first)."""

    case: CaseOut
    events: list[dict[str, Any]]


class ActionOut(Output):
    """What a workflow action stored: the case after it, its event and its audit entry."""

    case: CaseOut
    event_id: str
    audit_seq: int
    audit_hash: str


class PhotoOut(ActionOut):
    """An attached photo: its name (to cite in rectify) and digest."""

    name: str
    sha256: str = Field(description="SHA-256 of the stored (re-encoded) picture.")
    upload_sha256: str = Field(description="SHA-256 of the uploaded body.")
    bytes: int = Field(description="Size of the stored picture.")
    width: int
    height: int
    media_type: str


class CameraOut(Output):
    """Health and counters of one camera."""

    camera: str
    state: str
    since: float
    last_error: str | None
    codec: str | None
    width: int | None
    height: int | None
    frames: int
    frames_out: int
    dropped: int
    reconnects: int
    decode_errors: int
    stale_frames: int = Field(
        description="Frames that arrived more than stall_timeout_s late (a hung camera or "
        "server): never analysed, and they do not make the camera online."
    )
    decode_ms: float
    bitrate_kbps: float
    fps: float
    frame_age_ms: float | None
    warning: str | None = Field(
        description="A standing problem that does not stop the camera, e.g. a looping file "
        "that is truncated."
    )


class MeOut(Output):
    """The holder of the token (the console shows what the role may do)."""

    name: str
    role: str
    open_access: bool = Field(description="True when the API needs no token (loopback demo).")


class DailyStatsOut(Output):
    """Alerts per hazard per day: ``counts[hazard][i]`` is the count of ``days[i]``."""

    days: list[str]
    utc_offset_min: int
    hazards: list[str]
    counts: dict[str, list[int]]
    total: int


class AuditEntryOut(Output):
    """One audit entry with what its hash covers (``detail_text``, as hashed)."""

    seq: int
    at: float
    actor: str
    action: str
    alert_id: str | None
    detail: dict[str, Any]
    detail_text: str
    prev_hash: str
    hash: str


class ChainOut(Output):
    """The audit chain: ``first_broken`` is the first entry that does not hold."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_broken: int | None
    reason: str | None


class AnchorOut(Output):
    """An audit head kept outside the ledger, and whether the trail still reaches it."""

    seq: int
    hash: str
    reached: bool
    reason: str | None = Field(description="Why the trail does not reach the anchor.")


class VerifyOut(Output):
    """Chain (against the anchor, when given), the alert, event and outbox rows against the
    trail, and (optionally) evidence files against their recorded digests."""

    ok: bool
    chain: ChainOut
    anchor: AnchorOut | None
    alerts_checked: int
    events_checked: int
    row_problems: list[str] = Field(
        description="Alert rows whose hazard, severity or workflow state differ from the trail,"
        " event or outbox payloads whose digest differs from the sealed one, rows the trail"
        " does not know or lost."
    )
    evidence_checked: int
    evidence_problems: list[str]


class ErrorOut(Output):
    """Every 4xx answer: the reason in English, a stable code and the values its text needs."""

    detail: str = Field(description="Why the request was refused, in English.")
    code: str = Field(
        description="Stable machine-readable code: invalid_input, body_too_large, not_found, "
        "conflict, forbidden, zones_version_conflict, zone_self_intersecting… (by status when "
        "the route names none: unauthorized, forbidden, not_found, conflict, gone…)."
    )
    params: dict[str, Any] | None = Field(
        default=None,
        description="Values for a localised text of the code: the camera, the zone, the "
        "fields with problems (invalid_input), the edges that cross…",
    )
