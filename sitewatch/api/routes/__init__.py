"""One router per resource."""

from fastapi import APIRouter

from sitewatch.api.routes import alerts, audit, cameras, cases, console, events, stats, system

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    alerts.router,
    cases.router,
    cameras.router,
    audit.router,
    events.router,
    stats.router,
    console.router,
)
