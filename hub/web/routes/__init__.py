"""One router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from hub.web.routes import alerts, cases, console, reports, system

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    alerts.router,
    cases.router,
    reports.router,
    console.router,
)
