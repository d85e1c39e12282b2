"""Liveness, health, the caller, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from sitewatch import metrics
from sitewatch.api.deps import Context, Reader
from sitewatch.api.schemas import MeOut

router = APIRouter(tags=["system"])


@router.get("/healthz", summary="Liveness (no token needed)")
def healthz() -> dict[str, str]:
    """``{"status": "ok"}`` while the API answers."""
    return {"status": "ok"}


@router.get("/api/health", summary="Health: MQTT, outbox, cameras, detector")
def health(_user: Reader, context: Context) -> dict[str, Any]:
    """Status figures of the running pipeline."""
    return {
        "status": "ok",
        "site": context.site,
        "site_name": context.site_name,
        "timezone": context.timezone,
        **context.health(),
    }


@router.get("/api/me", response_model=MeOut, summary="The caller: token holder and role")
def me(user: Reader, context: Context) -> dict[str, Any]:
    """Who the token belongs to and its role (the web console shows what the role may do)."""
    return {"name": user.name, "role": user.role.value, "open_access": context.auth.open_access()}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def get_metrics(_user: Reader, context: Context) -> str:
    """Camera counters, delivery health and API figures in the Prometheus text format."""
    auth, hub = context.auth, context.hub
    api = {
        "api_auth_failures_total": auth.failures,
        "api_auth_refused_total": auth.limiter.refused,
        "api_sse_clients": hub.clients,
        "api_sse_disconnected_slow_total": hub.disconnected_slow,
        "api_live_viewers": context.live_figures.viewers,
        "api_live_parts_total": context.live_figures.parts,
        "api_live_bytes_total": context.live_figures.bytes_sent,
        "api_live_jpegs_encoded_total": context.jpegs.encoded,
    }
    return metrics.render(context.cameras(), {**context.health(), **api})


@router.get("/api/openapi.json", include_in_schema=False)
def openapi(request: Request, _user: Reader) -> JSONResponse:
    """The OpenAPI document of this API."""
    return JSONResponse(request.app.openapi())
