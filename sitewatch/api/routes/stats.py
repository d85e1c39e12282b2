"""Figures for the console's charts: alerts per hazard per day, counted by the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from core.vocabulary import Hazard
from sitewatch.api.deps import Context, Reader
from sitewatch.api.schemas import DailyStatsOut

router = APIRouter(prefix="/api/stats", tags=["stats"])
MAX_OFFSET_MIN = 14 * 60  # UTC-14:00 .. UTC+14:00


@router.get("/daily", response_model=DailyStatsOut, summary="Alerts per hazard per day")
def daily(
    _user: Reader,
    context: Context,
    days: Annotated[int, Query(ge=1, le=366, description="How many days, ending with until.")] = 14,
    until: Annotated[
        date | None, Query(description="The last day counted (default: today at the offset).")
    ] = None,
    utc_offset_min: Annotated[
        int,
        Query(
            ge=-MAX_OFFSET_MIN,
            le=MAX_OFFSET_MIN,
            description="Minutes east of UTC at which days begin (a browser's is "
            "-new Date().getTimezoneOffset()).",
        ),
    ] = 0,
) -> dict[str, Any]:
    """Alerts started on each day (oldest first) per hazard; every known hazard is listed,
    with zeros on days without alerts."""
    offset = timedelta(minutes=utc_offset_min)
    last = until if until is not None else (datetime.now(UTC) + offset).date()
    try:
        first = last - timedelta(days=days - 1)
        start = datetime.combine(first, time(), UTC) - offset
        end = datetime.combine(last + timedelta(days=1), time(), UTC) - offset
        span = (start.timestamp(), end.timestamp())
    except (OverflowError, ValueError):
        raise HTTPException(422, f"cannot count {days} days up to {last}") from None
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    rows = context.ledger.daily_counts(*span, utc_offset_s=utc_offset_min * 60)
    hazards = [h.value for h in Hazard] + sorted({h for _, h, _ in rows} - set(Hazard))
    counts = {hazard: [0] * days for hazard in hazards}
    index = {label: i for i, label in enumerate(labels)}
    for day, hazard, count in rows:
        if day in index:  # always, unless the clock of SQLite and Python disagree
            counts[hazard][index[day]] = count
    return {
        "days": labels,
        "utc_offset_min": utc_offset_min,
        "hazards": hazards,
        "counts": counts,
        "total": sum(sum(series) for series in counts.values()),
    }
