"""Health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from hub.web.context import Context, DbDep, StreetOffice

router = APIRouter(tags=["system"])

GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        "sitewatch_hub_events_rows",
        "Events stored in PostgreSQL (all hubs).",
        "SELECT count(*) FROM events",
    ),
    (
        "sitewatch_hub_missing_events",
        "Events an edge's trail names that the hub does not hold yet.",
        "SELECT count(*) FROM missing_events WHERE filled_at IS NULL",
    ),
    (
        "sitewatch_hub_evidence_pending",
        "Evidence files not fetched yet.",
        "SELECT count(*) FROM evidence WHERE fetched_at IS NULL AND NOT gone",
    ),
    (
        "sitewatch_hub_commands_pending",
        "Commands sent to edges and not confirmed yet.",
        "SELECT count(*) FROM commands WHERE status = 'pending'",
    ),
    (
        "sitewatch_hub_rejected_rows",
        "Refused inputs kept for review.",
        "SELECT count(*) FROM rejected",
    ),
)


@router.get("/healthz", summary="Liveness")
def healthz(context: Context) -> dict[str, Any]:
    """Whether this hub process is connected to the central broker."""
    return {"ok": True, "client_id": context.config.mqtt.client_id, **context.health()}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(_person: StreetOffice, context: Context, db: DbDep) -> str:
    """This process's counters and fleet-wide gauges from PostgreSQL."""
    gauges: dict[str, tuple[str, float]] = {}
    for name, help_text, sql in GAUGES:
        row = db.execute(sql).fetchone()
        gauges[name] = (help_text, float(row[0]) if row else 0.0)
    return context.metrics.exposition(gauges)
