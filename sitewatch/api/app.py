"""The API application: routers, error mapping, body limits, client addresses behind trusted
proxies, security headers, CORS (closed by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from alerts.cases import CaseInputError, CaseNotFoundError
from alerts.photos import MAX_PHOTO_BYTES
from alerts.workflow import TransitionError
from detect.references import ReferenceStore
from sitewatch.api.auth import Authenticator, FailureLimiter
from sitewatch.api.body_limit import BodyLimit
from sitewatch.api.context import ApiContext, ApiDependencies
from sitewatch.api.errors import INVALID_INPUT, error_response, map_request_errors
from sitewatch.api.event_stream import EventHub
from sitewatch.api.openapi import openapi_document
from sitewatch.api.routes import ROUTERS
from sitewatch.api.routes.cases import PHOTO_PATH
from sitewatch.api.tokens import TokenStore
from sitewatch.config.api import Role

API_VERSION = "1.0.0"
MAX_BODY_BYTES = 1024 * 1024  # JSON bodies; photo uploads have their own limit
DESCRIPTION = f"""Alerts, evidence, the case workflow and the audit trail of one sitewatch node.

Every route but `/healthz` needs `Authorization: Bearer <token>` (roles viewer, operator,
auditor, admin). Errors answer `{{"detail": "<reason>", "code"?: "<code>"}}` with a 4xx status.
Request bodies are limited to {MAX_BODY_BYTES} bytes (photo uploads: {MAX_PHOTO_BYTES})."""


class SitewatchApi(FastAPI):
    """FastAPI with the error answers of every operation in its OpenAPI document."""

    def openapi(self) -> dict[str, Any]:
        return openapi_document(self, [role.value for role in Role])


def create_app(deps: ApiDependencies) -> FastAPI:
    """The API over the node's ``deps``; with no token configured or created, access is open
    when ``deps.open_when_no_tokens``. The client address is the TCP peer, or what
    ``X-Forwarded-For`` says when the peer is one of ``deps.trusted_proxies``; serve it with
    ``api_server``."""
    app = SitewatchApi(
        title="sitewatch",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url=None,  # served at /api/openapi.json behind a token
        docs_url=None,
        redoc_url=None,
    )
    ledger = deps.ledger
    app.state.context = ApiContext(
        ledger=ledger,
        data_dir=deps.data_dir,
        site=deps.topics.site,
        base_url=deps.base_url,
        cameras=deps.cameras,
        health=deps.health,
        latest_frame=deps.latest_frame,
        references=ReferenceStore(deps.data_dir / "references"),
        cases=deps.cases,
        hub=EventHub(ledger),
        auth=Authenticator(
            deps.tokens,
            TokenStore(ledger),
            deps.limiter or FailureLimiter(),
            deps.open_when_no_tokens,
        ),
        live=deps.live,
        zones=deps.zones,
        timezone=deps.timezone,
        site_name=deps.site_name,
    )
    for router in ROUTERS:
        app.include_router(router)
    map_request_errors(app)
    _map_errors(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, larger={PHOTO_PATH: MAX_PHOTO_BYTES})
    app.middleware("http")(_security_headers)
    if deps.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(deps.cors_origins),
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=["Link", "X-Next-Cursor", "ETag", "Content-Range"],
        )
    if deps.trusted_proxies:  # outermost: every layer sees the forwarded client
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(deps.trusted_proxies))
    return app


def api_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """uvicorn serving ``app``. Its own forwarding-header handling is off: by default it
    believes ``X-Forwarded-For`` from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), which would let any
    local client choose its address; ``create_app(trusted_proxies=…)`` decides instead."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=2,  # open event streams do not hold the shutdown
    )
    return uvicorn.Server(config)


def _map_errors(app: FastAPI) -> None:
    statuses: dict[type[Exception], int] = {
        CaseNotFoundError: 404,
        TransitionError: 409,
        CaseInputError: 422,
    }
    codes: dict[type[Exception], str] = {
        CaseNotFoundError: "alert_not_found",
        CaseInputError: INVALID_INPUT,
    }
    for error_type, status in statuses.items():
        code = codes.get(error_type)

        def handler(
            _request: Request, error: Exception, status: int = status, code: str | None = code
        ) -> Response:
            named = getattr(error, "code", None) or code  # TransitionError names its own
            return error_response(status, str(error), named, params=getattr(error, "params", None))

        app.add_exception_handler(error_type, handler)


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
