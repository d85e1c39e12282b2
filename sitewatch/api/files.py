"""Evidence and image responses: correct types, the recorded SHA-256 as a strong ETag (304 on
a match), byte ranges (Starlette's FileResponse), and nothing outside the evidence folder."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import HTTPException, Request, Response
from fastapi.responses import FileResponse

from alerts.model import Evidence

MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp4": "video/mp4",
}
ALERT_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
MAX_ID = 2**63 - 1  # SQLite's largest integer (sequence numbers, event positions)
CACHE = "private, no-cache"  # revalidate with the ETag (a peak snapshot may be replaced)


def check_alert_id(alert_id: str) -> None:
    """404 for an id that cannot be one (before touching the ledger)."""
    if not ALERT_ID.match(alert_id):
        raise HTTPException(404, f"no alert with id {alert_id!r}")


def _matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def evidence_response(
    request: Request, data_dir: Path, alert_id: str, item: Evidence | None, what: str
) -> Response:
    """The file of ``item`` (404 missing, 410 removed by retention, 304 not modified)."""
    if item is None:
        raise HTTPException(404, f"alert {alert_id} has no {what}")
    if item.removed_at is not None:
        raise HTTPException(410, f"{what} of alert {alert_id} was removed by retention")
    root = (data_dir / "evidence").resolve()
    path = (data_dir / item.path).resolve()
    media_type = MEDIA_TYPES.get(path.suffix.lower())
    if root not in path.parents or not path.is_file() or media_type is None:
        raise HTTPException(404, f"{what} file of alert {alert_id} is missing")
    etag = f'"{item.sha256}"'
    headers = {"ETag": etag, "Cache-Control": CACHE}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)
