"""The hub's FastAPI application and its uvicorn server."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from hub.config import HubConfig
from hub.evidence_store import EvidenceStore
from hub.metrics import HubMetrics
from hub.store import Db
from hub.web.auth import HubAuth
from hub.web.context import HealthSource, HubContext
from hub.web.routes import ROUTERS


def create_hub_app(
    config: HubConfig,
    metrics: HubMetrics,
    connect: Callable[[], Db],
    evidence: EvidenceStore,
    health: HealthSource,
    wake_commands: Callable[[], None] = lambda: None,
) -> FastAPI:
    """The API and console of one hub process."""
    app = FastAPI(
        title="sitewatch hub",
        version="1.0.0",
        description="Every site's alerts, cases and evidence, filtered by the caller's scope.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = HubContext(
        config, metrics, connect, HubAuth(config), evidence, health, wake_commands
    )
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
