"""The hazard ledger export (XLSX, PDF) and the monthly summary, for the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from hub.ledger_export import ExportError, ledger_rows, summarise, write_pdf, write_xlsx
from hub.web.auth import Person
from hub.web.context import Caller, Context, DbDep

router = APIRouter(prefix="/api", tags=["reports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]


def period(month: str | None) -> tuple[datetime, datetime]:
    """[first day of the month, first day of the next) in UTC; this month by default."""
    now = datetime.now(UTC)
    year, number = (now.year, now.month) if month is None else map(int, month.split("-"))
    if not 1 <= number <= 12:
        raise HTTPException(422, "month must be YYYY-MM with a month 01..12")
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _check_scope(person: Person, context: Context, grid: str | None, site: str | None) -> None:
    if site is not None and not person.sees(site):
        raise HTTPException(404, f"no site {site[:63]} in your scope")
    if grid is not None:
        sites = next((g.sites for g in context.config.grids if g.id == grid), None)
        if sites is None or not set(sites) & person.sites:
            raise HTTPException(404, f"no grid {grid[:63]} in your scope")


def _title(context: Context, grid: str | None, site: str | None) -> str:
    return site or grid or context.config.street_office.name


@router.get("/summary", summary="Monthly summary")
def monthly_summary(
    person: Caller,
    context: Context,
    db: DbDep,
    month: Month = None,
    grid: Annotated[str | None, Query(max_length=63)] = None,
    site: Annotated[str | None, Query(max_length=63)] = None,
) -> dict[str, Any]:
    """Counts per hazard and grid, median hours to close, overdue cases."""
    _check_scope(person, context, grid, site)
    start, end = period(month)
    rows = ledger_rows(db, context.evidence, sorted(person.sites), start, end, grid, site)
    summary = summarise(rows, start, end, datetime.now(UTC))
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "total": summary.total,
        "by_grid": summary.by_grid,
        "by_hazard_grid": [
            {"hazard": h, "grid": g, "count": n}
            for (h, g), n in sorted(summary.by_hazard_grid.items())
        ],
        "median_close_h": summary.median_close_h,
        "overdue": summary.overdue,
    }


@router.get("/ledger.{kind}", summary="The hazard ledger (XLSX or PDF)")
def ledger(
    kind: str,
    person: Caller,
    context: Context,
    db: DbDep,
    month: Month = None,
    grid: Annotated[str | None, Query(max_length=63)] = None,
    site: Annotated[str | None, Query(max_length=63)] = None,
) -> Response:
    """One row per hazard of the month (default: this month), with the summary and a chart."""
    if kind not in ("xlsx", "pdf"):
        raise HTTPException(404, "the ledger comes as .xlsx or .pdf")
    _check_scope(person, context, grid, site)
    start, end = period(month)
    rows = ledger_rows(db, context.evidence, sorted(person.sites), start, end, grid, site)
    summary = summarise(rows, start, end, datetime.now(UTC))
    name = f"ledger-{_title(context, grid, site) if (grid or site) else 'all'}-{start:%Y-%m}"
    if kind == "xlsx":
        body, media = write_xlsx(rows, summary), XLSX
    else:
        try:
            body, media = write_pdf(rows, summary, _title(context, grid, site)), "application/pdf"
        except ExportError as error:
            raise HTTPException(503, str(error)) from None
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'},
    )
