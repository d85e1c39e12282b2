"""The API application: routers, error mapping, security headers, CORS (closed by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from alerts.cases import MAX_PHOTO_BYTES, CaseInputError, CaseNotFoundError, CaseService
from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.workflow import TransitionError
from detect.references import ReferenceStore
from sitewatch.api.auth import Authenticator, FailureLimiter
from sitewatch.api.context import ApiContext, FrameSource, HealthSource, StatusSource
from sitewatch.api.event_stream import EventHub
from sitewatch.api.routes import ROUTERS
from sitewatch.api.tokens import TokenStore

API_VERSION = "1.0.0"
DESCRIPTION = """Alerts, evidence, the case workflow and the audit trail of one sitewatch node.

Every route but `/healthz` needs `Authorization: Bearer <token>` (roles viewer, operator,
auditor, admin). Errors answer `{"detail": "<reason>"}`."""


def no_frames(_camera: str) -> None:
    """Frame source of an API without cameras."""
    return


def create_app(
    ledger: Ledger,
    data_dir: Path,
    site: str,
    base_url: str,
    cameras: StatusSource,
    health: HealthSource,
    tokens: Mapping[str, tuple[str, str]],  # config token -> (holder name, role)
    *,
    latest_frame: FrameSource = no_frames,
    cases: CaseService | None = None,
    open_when_no_tokens: bool = True,
    cors_origins: Sequence[str] = (),
    max_upload_bytes: int = MAX_PHOTO_BYTES,
    limiter: FailureLimiter | None = None,
) -> FastAPI:
    """The API; with no token configured or created, access is open when
    ``open_when_no_tokens`` (the runner allows it on loopback binds only)."""
    app = FastAPI(
        title="sitewatch",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url=None,  # served at /api/openapi.json behind a token
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = ApiContext(
        ledger=ledger,
        data_dir=data_dir,
        site=site,
        base_url=base_url,
        cameras=cameras,
        health=health,
        latest_frame=latest_frame,
        references=ReferenceStore(data_dir / "references"),
        cases=cases or CaseService(ledger, Topics("sitewatch", site), data_dir, base_url),
        hub=EventHub(ledger),
        auth=Authenticator(
            tokens, TokenStore(ledger), limiter or FailureLimiter(), open_when_no_tokens
        ),
        max_upload_bytes=max_upload_bytes,
    )
    for router in ROUTERS:
        app.include_router(router)
    _map_errors(app)
    app.middleware("http")(_security_headers)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=["Link", "X-Next-Cursor", "ETag", "Content-Range"],
        )
    return app


def _map_errors(app: FastAPI) -> None:
    statuses: dict[type[Exception], int] = {
        CaseNotFoundError: 404,
        TransitionError: 409,
        CaseInputError: 422,
    }
    for error_type, status in statuses.items():

        def handler(_request: Request, error: Exception, status: int = status) -> JSONResponse:
            return JSONResponse({"detail": str(error)}, status_code=status)

        app.add_exception_handler(error_type, handler)


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
