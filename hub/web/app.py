"""The hub's FastAPI application and its uvicorn server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

from hub.web.context import HubContext
from hub.web.routes import ROUTERS

if TYPE_CHECKING:
    from hub.service import HubParts


def create_hub_app(parts: HubParts) -> FastAPI:
    """The API and console over a running hub's parts."""
    app = FastAPI(
        title="sitewatch hub",
        version="1.0.0",
        description="Every site's alerts, cases and evidence, filtered by the caller's scope.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = HubContext.of(parts)
    for router in ROUTERS:
        app.include_router(router)
    return app


def serve(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """uvicorn serving ``app`` (no forwarded-header trust)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)
