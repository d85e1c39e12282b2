"""For auditors: the audit trail, its verification, and one dossier file per alert."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from alerts import audit
from alerts.dossier import DossierError, export_dossier
from alerts.integrity import verify_ledger
from sitewatch.api.deps import Auditor, Context
from sitewatch.api.files import MAX_ID, check_alert_id
from sitewatch.api.schemas import AuditEntryOut, VerifyOut
from sitewatch.dossier_summary import pick_language, summary_writer

router = APIRouter(tags=["audit"])
CHUNK = 1 << 16


@router.get("/api/audit", response_model=list[AuditEntryOut], summary="Audit trail entries")
def list_entries(
    _user: Auditor,
    context: Context,
    alert_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Entries after this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Entries in seq order, each with its hash and the previous entry's hash."""
    clause = "WHERE seq > ?"
    params: list[object] = [after]
    if alert_id is not None:
        clause += " AND alert_id = ?"
        params.append(alert_id)
    with context.ledger.reading() as db:
        rows = db.execute(
            f"SELECT {audit.ENTRY_COLUMNS} FROM audit {clause} ORDER BY seq LIMIT ?",
            (*params, limit),
        ).fetchall()
    return [audit.entry_from_row(row).to_dict() for row in rows]


@router.get("/api/audit/verify", response_model=VerifyOut, summary="Verify the audit chain")
def verify(
    _user: Auditor,
    context: Context,
    evidence: Annotated[
        bool, Query(description="Also hash every kept evidence file (slower).")
    ] = False,
    anchor: Annotated[
        str | None,
        Query(
            max_length=100,
            description="SEQ:HASH, an audit head kept outside the ledger (an event's audit_head"
            " or the retained .../audit/head message): the trail must still reach it.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Recompute every hash and link; ``chain.first_broken`` is the first entry that does
    not hold, ``anchor.reason`` why the trail does not reach the anchor, ``row_problems`` the
    rows that differ from the trail. With ``evidence=true`` every kept file is checked
    against its recorded digest."""
    try:
        head = None if anchor is None else audit.parse_anchor(anchor)
    except audit.AnchorSyntaxError as error:
        raise HTTPException(422, f"query parameter anchor: {error}") from None
    return verify_ledger(context.ledger, context.data_dir, evidence, head).to_dict()


@router.get(
    "/api/alerts/{alert_id}/dossier",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, 404: {"description": "No such alert"}},
    summary="Case dossier (ZIP)",
)
def dossier(
    alert_id: str,
    user: Auditor,
    context: Context,
    lang: Annotated[
        str | None,
        Query(
            description="Language of the human-readable summary: zh-CN or en (default: the "
            "request's Accept-Language, else en)."
        ),
    ] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """One ZIP with the alert, its case, events, audit entries, evidence files, a summary in
    the requesting user's language, a manifest and SHA256SUMS; the export is itself an audit
    entry."""
    check_alert_id(alert_id)
    language = pick_language(lang, accept_language)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _chunks after streaming)
    try:
        export_dossier(
            context.ledger,
            context.data_dir,
            alert_id,
            spool,
            context.site,
            context.base_url,
            user.name,
            time.time(),
            summary_writer(language, context.timezone),
        )
    except DossierError as error:
        spool.close()
        raise HTTPException(404, str(error)) from None
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    filename = f"sitewatch-{context.site}-{alert_id}.zip"
    return StreamingResponse(
        _chunks(spool),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
