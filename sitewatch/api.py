"""HTTP API (FastAPI): health, cameras, alerts and their snapshots."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse

from alerts.contract import alert_document
from alerts.ledger import Ledger
from alerts.model import Alert, Evidence
from detect.references import ReferenceStore
from ingest.status import CameraStatus
from sitewatch import metrics

StatusSource = Callable[[], list[CameraStatus]]
HealthSource = Callable[[], dict[str, Any]]


def current_user(request: Request) -> tuple[str, str]:
    """(holder, role) of the bearer token; open access when no token is configured."""
    tokens: dict[str, tuple[str, str]] = request.app.state.tokens
    if not tokens:
        return ("anonymous", "admin")
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise HTTPException(401, "missing bearer token (Authorization: Bearer <token>)")
    for token, holder in tokens.items():
        if hmac.compare_digest(token.encode(), presented.encode()):
            return holder
    raise HTTPException(401, "unknown token")


User = Annotated[tuple[str, str], Depends(current_user)]


def create_app(
    ledger: Ledger,
    data_dir: Path,
    site: str,
    base_url: str,
    cameras: StatusSource,
    health: HealthSource,
    tokens: dict[str, tuple[str, str]],  # token -> (holder name, role)
) -> FastAPI:
    """The API application; with no tokens configured access is open (loopback binds only)."""
    app = FastAPI(title="sitewatch", version="0.1.0")
    app.state.tokens = tokens

    @app.get("/api/health")
    def get_health() -> dict[str, Any]:
        return {"status": "ok", "site": site, **health()}

    @app.get("/metrics", response_class=PlainTextResponse)
    def get_metrics() -> str:
        return metrics.render(cameras(), health())

    @app.get("/api/cameras")
    def get_cameras(_user: User) -> list[dict[str, Any]]:
        return [asdict(status) for status in cameras()]

    references = ReferenceStore(data_dir / "references")

    @app.get("/api/cameras/{name}/reference", response_class=FileResponse)
    def get_reference(name: str, _user: User) -> FileResponse:
        """The reference image of the camera's clear exits (``X-Captured-At``: when taken)."""
        if name not in {status.camera for status in cameras()}:
            raise HTTPException(404, f"no camera named {name!r}")
        stored = references.describe(name)
        if stored is None:
            raise HTTPException(
                404, f"camera {name} has no reference image yet (run sitewatch calibrate)"
            )
        path, captured_at = stored
        when = datetime.fromtimestamp(captured_at, UTC).isoformat(timespec="seconds")
        return FileResponse(path, media_type="image/png", headers={"X-Captured-At": when})

    @app.get("/api/alerts")
    def get_alerts(
        _user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        return [alert_document(a, site, base_url) for a in ledger.recent_alerts(limit)]

    @app.get("/api/alerts/{alert_id}")
    def get_alert(alert_id: str, _user: User) -> dict[str, Any]:
        alert = ledger.alert(alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert with id {alert_id}")
        return {**alert_document(alert, site, base_url), "events": ledger.events(alert_id)}

    def serve(alert_id: str, pick: Callable[[Alert], Evidence | None], what: str) -> FileResponse:
        alert = ledger.alert(alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert with id {alert_id}")
        item = pick(alert)
        if item is None:
            raise HTTPException(404, f"alert {alert_id} has no {what}")
        if item.removed_at is not None:
            raise HTTPException(410, f"{what} of alert {alert_id} was removed by retention")
        path = (data_dir / item.path).resolve()
        if not path.is_file() or data_dir.resolve() not in path.parents:
            raise HTTPException(404, f"{what} file of alert {alert_id} is missing")
        media_type = "video/mp4" if path.suffix == ".mp4" else "image/jpeg"
        return FileResponse(path, media_type=media_type)

    @app.get("/api/alerts/{alert_id}/snapshot", response_class=FileResponse)
    def get_snapshot(alert_id: str, _user: User) -> FileResponse:
        return serve(alert_id, lambda a: a.snapshot, "snapshot")

    @app.get("/api/alerts/{alert_id}/clip", response_class=FileResponse)
    def get_clip(alert_id: str, _user: User) -> FileResponse:
        return serve(alert_id, lambda a: a.clip, "clip")

    @app.get("/api/alerts/{alert_id}/evidence/{name}", response_class=FileResponse)
    def get_evidence(alert_id: str, name: str, _user: User) -> FileResponse:
        def by_name(alert: Alert) -> Evidence | None:
            return next((e for e in alert.evidence if e.name == name), None)

        return serve(alert_id, by_name, f"evidence file '{name}'")

    return app
