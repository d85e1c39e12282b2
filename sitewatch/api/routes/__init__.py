"""One router per resource."""

from fastapi import APIRouter

from sitewatch.api.routes import (
    alerts,
    audit,
    cameras,
    cases,
    console,
    events,
    handover,
    live,
    stats,
    system,
    zones,
)

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    alerts.router,
    cases.router,
    cameras.router,
    live.router,
    zones.router,
    handover.router,
    audit.router,
    events.router,
    stats.router,
    console.router,
)
