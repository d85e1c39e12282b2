"""The hazard ledger (隐患台账) for a period, a grid or a site, as XLSX (openpyxl) and PDF
(fpdf2, with an embedded CJK font from Debian's ``fonts-noto-cjk``): one row per hazard with
site, camera, hazard, start/end, a snapshot thumbnail, the responsible person, the deadline,
the rectification note and photo, and when and by whom it was closed out; and a monthly
summary — counts per hazard and grid, median time to close, overdue cases — with a chart."""

from __future__ import annotations

import io
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import SitewatchError
from hub.evidence_store import EvidenceStore
from hub.store import Db

CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
SIMPLIFIED_CHINESE = 2  # the face of the Noto CJK collections that holds Simplified Chinese
THUMB_PX = (96, 54)

TEXT = {
    "title": "隐患台账 Hazard ledger",
    "summary_title": "月度汇总 Monthly summary",
    "columns": (
        "站点 Site",
        "网格 Grid",
        "摄像头 Camera",
        "隐患 Hazard",
        "开始 Start",
        "结束 End",
        "快照 Snapshot",
        "责任人 Responsible",
        "期限 Deadline",
        "整改说明 Rectification",
        "整改照片 Photo",
        "销号时间 Closed at",
        "销号人 Closed by",
        "状态 State",
    ),
    "counts": "按隐患与网格计数 Counts per hazard and grid",
    "median": "销号中位时长 Median time to close (h)",
    "overdue": "逾期案件 Overdue cases",
    "total": "隐患总数 Hazards",
    "chart": "各网格隐患数 Hazards per grid",
    "period": "期间 Period",
    "no_font": "no CJK font found (Debian: apt-get install fonts-noto-cjk)",
}


class ExportError(SitewatchError, RuntimeError):
    """The export cannot be made (no CJK font installed...)."""


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One hazard of the ledger."""

    alert_id: str
    site: str
    site_name: str
    grid: str
    camera: str
    hazard: str
    started_at: datetime
    ended_at: datetime | None
    state: str
    owner: str | None
    deadline: datetime | None
    rectification_note: str | None
    closed_at: datetime | None
    closed_by: str | None
    snapshot: bytes | None = field(default=None, repr=False)
    photo: bytes | None = field(default=None, repr=False)

    def overdue(self, now: datetime) -> bool:
        """Past its deadline and not rectified or closed."""
        open_states = {"open", "acknowledged", "assigned", "escalated"}
        return self.deadline is not None and self.deadline < now and self.state in open_states


ROW_FIELDS = tuple(f for f in LedgerRow.__dataclass_fields__ if f not in ("snapshot", "photo"))


@dataclass(frozen=True, slots=True)
class Summary:
    """The monthly (or any period's) figures."""

    start: datetime
    end: datetime
    total: int
    by_hazard_grid: dict[tuple[str, str], int]
    by_grid: dict[str, int]
    median_close_h: float | None
    overdue: int


def ledger_rows(
    db: Db,
    store: EvidenceStore,
    sites: Sequence[str],
    start: datetime,
    end: datetime,
    grid: str | None = None,
    site: str | None = None,
) -> list[LedgerRow]:
    """Hazards that started in [start, end) at ``sites`` (the caller's scope), optionally one
    grid or one site, oldest first."""
    conditions = ["a.site_id = ANY(%s)", "a.started_at >= %s", "a.started_at < %s"]
    params: list[Any] = [list(sites), start, end]
    if grid is not None:
        conditions.append("s.grid_id = %s")
        params.append(grid)
    if site is not None:
        conditions.append("a.site_id = %s")
        params.append(site)
    rows = db.execute(
        "SELECT a.alert_id, a.site_id, s.name, s.grid_id, a.camera, a.hazard, a.started_at,"
        " a.ended_at, a.workflow_state, a.owner, a.deadline,"
        " (SELECT e.payload->'case'->>'note' FROM events e WHERE e.alert_id = a.alert_id"
        "  AND e.payload->'case'->>'action' = 'rectify' ORDER BY e.created_at DESC LIMIT 1),"
        " (SELECT e.created_at FROM events e WHERE e.alert_id = a.alert_id"
        "  AND e.payload->'case'->>'to' = 'closed' ORDER BY e.created_at DESC LIMIT 1),"
        " (SELECT e.payload->'case'->>'actor' FROM events e WHERE e.alert_id = a.alert_id"
        "  AND e.payload->'case'->>'to' = 'closed' ORDER BY e.created_at DESC LIMIT 1),"
        " (SELECT v.stored_key FROM evidence v WHERE v.alert_id = a.alert_id"
        "  AND v.kind = 'snapshot' AND v.fetched_at IS NOT NULL LIMIT 1),"
        " (SELECT v.stored_key FROM evidence v WHERE v.alert_id = a.alert_id"
        "  AND v.kind = 'rectification' AND v.fetched_at IS NOT NULL ORDER BY v.part DESC LIMIT 1)"
        " FROM alerts a JOIN sites s USING (site_id) WHERE "
        + " AND ".join(conditions)
        + " ORDER BY a.started_at, a.alert_id",
        params,
    ).fetchall()
    found = []
    for row in rows:
        snapshot_key, photo_key = row[14], row[15]
        values = dict(zip(ROW_FIELDS, row[:14], strict=True))
        values["snapshot"] = _read(store, snapshot_key)
        values["photo"] = _read(store, photo_key)
        found.append(LedgerRow(**values))
    return found


def summarise(rows: Sequence[LedgerRow], start: datetime, end: datetime, now: datetime) -> Summary:
    """Counts per hazard and grid, median hours from start to close-out, overdue cases."""
    by_pair = Counter((r.hazard, r.grid) for r in rows)
    by_grid = Counter(r.grid for r in rows)
    hours = [
        (r.closed_at - r.started_at).total_seconds() / 3600 for r in rows if r.closed_at is not None
    ]
    median = statistics.median(hours) if hours else None
    return Summary(
        start,
        end,
        len(rows),
        dict(by_pair),
        dict(by_grid),
        median,
        sum(r.overdue(now) for r in rows),
    )


def write_xlsx(rows: Sequence[LedgerRow], summary: Summary) -> bytes:
    """The ledger sheet (with thumbnails) and the summary sheet (with a bar chart)."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.drawing.image import Image as SheetImage

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Ledger"
    sheet.append(list(TEXT["columns"]))
    for index, row in enumerate(rows, start=2):
        sheet.append(
            [
                row.site_name,
                row.grid,
                row.camera,
                row.hazard,
                _text(row.started_at),
                _text(row.ended_at),
                "",
                row.owner or "",
                _text(row.deadline),
                row.rectification_note or "",
                "",
                _text(row.closed_at),
                row.closed_by or "",
                row.state,
            ]
        )
        for column, picture in (("G", row.snapshot), ("K", row.photo)):
            thumb = _thumbnail(picture)
            if thumb is not None:
                image = SheetImage(io.BytesIO(thumb))
                sheet.add_image(image, f"{column}{index}")
        sheet.row_dimensions[index].height = 45
    for column, width in zip(
        "ABCDEFGHIJKLMN", (22, 10, 12, 16, 20, 20, 15, 18, 20, 30, 15, 20, 16, 14), strict=True
    ):
        sheet.column_dimensions[column].width = width
    totals = book.create_sheet("Summary")
    totals.append([TEXT["period"], _text(summary.start), _text(summary.end)])
    totals.append([TEXT["total"], summary.total])
    totals.append(
        [
            TEXT["median"],
            None if summary.median_close_h is None else round(summary.median_close_h, 2),
        ]
    )
    totals.append([TEXT["overdue"], summary.overdue])
    totals.append([])
    totals.append([TEXT["counts"]])
    grids = sorted(summary.by_grid)
    hazards = sorted({h for h, _g in summary.by_hazard_grid})
    totals.append(["hazard \\ grid", *grids])
    first = totals.max_row + 1
    for hazard in hazards:
        totals.append([hazard, *(summary.by_hazard_grid.get((hazard, g), 0) for g in grids)])
    if hazards and grids:
        chart = BarChart()
        chart.title = TEXT["chart"]
        chart.type = "col"
        chart.grouping = "stacked"
        chart.overlap = 100
        data = Reference(
            totals,
            min_col=2,
            max_col=1 + len(grids),
            min_row=first - 1,
            max_row=first - 1 + len(hazards),
        )
        chart.add_data(data, titles_from_data=True, from_rows=False)
        chart.set_categories(
            Reference(totals, min_col=1, min_row=first, max_row=first - 1 + len(hazards))
        )
        totals.add_chart(chart, "H2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_pdf(rows: Sequence[LedgerRow], summary: Summary, title: str) -> bytes:
    """A landscape A4 ledger with thumbnails, then the summary page with a bar chart; the CJK
    font is embedded (subset)."""
    from fpdf import FPDF

    font = next((f for f in CJK_FONTS if f.exists()), None)
    if font is None:
        raise ExportError(TEXT["no_font"])
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("cjk", "", str(font), collection_font_number=SIMPLIFIED_CHINESE)
    pdf.add_page()
    pdf.set_font("cjk", size=14)
    pdf.cell(text=f"{TEXT['title']} — {title}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    pdf.cell(
        text=f"{TEXT['period']}: {_text(summary.start)} to {_text(summary.end)}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    widths = (28, 14, 18, 20, 24, 24, 20, 22, 24, 38, 20, 24)
    headers = [c for i, c in enumerate(TEXT["columns"]) if i not in (12, 13)]
    pdf.set_font("cjk", size=6)
    for width, header in zip(widths, headers, strict=True):
        pdf.cell(width, 6, header, border=1)
    pdf.ln()
    for row in rows:
        if pdf.get_y() > 180:
            pdf.add_page()
        y = pdf.get_y()
        cells = [
            row.site_name,
            row.grid,
            row.camera,
            row.hazard,
            _text(row.started_at),
            _text(row.ended_at),
            None,
            row.owner or "",
            _text(row.deadline),
            (row.rectification_note or "")[:60],
            None,
            f"{_text(row.closed_at)} {row.closed_by or ''}".strip(),
        ]
        x = pdf.l_margin
        for width, value, picture in zip(
            widths,
            cells,
            [None] * 6 + [row.snapshot] + [None] * 3 + [row.photo] + [None],
            strict=True,
        ):
            pdf.set_xy(x, y)
            if value is None:
                pdf.cell(width, 12, "", border=1)
                thumb = _thumbnail(picture)
                if thumb is not None:
                    pdf.image(
                        io.BytesIO(thumb),
                        x=x + 1,
                        y=y + 1,
                        w=width - 2,
                        h=10,
                        keep_aspect_ratio=True,
                    )
            else:
                pdf.cell(width, 12, value[:40], border=1)
            x += width
        pdf.set_xy(pdf.l_margin, y + 12)
    _summary_page(pdf, summary)
    return bytes(pdf.output())


def _summary_page(pdf: Any, summary: Summary) -> None:
    pdf.add_page()
    pdf.set_font("cjk", size=14)
    pdf.cell(text=TEXT["summary_title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    median = "—" if summary.median_close_h is None else f"{summary.median_close_h:.1f}"
    for label, value in (
        (TEXT["total"], str(summary.total)),
        (TEXT["median"], median),
        (TEXT["overdue"], str(summary.overdue)),
    ):
        pdf.cell(text=f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.cell(text=TEXT["counts"], new_x="LMARGIN", new_y="NEXT")
    grids = sorted(summary.by_grid)
    hazards = sorted({h for h, _g in summary.by_hazard_grid})
    pdf.set_font("cjk", size=8)
    pdf.cell(40, 6, "hazard \\ grid", border=1)
    for grid in grids:
        pdf.cell(25, 6, grid, border=1)
    pdf.ln()
    for hazard in hazards:
        pdf.cell(40, 6, hazard, border=1)
        for grid in grids:
            pdf.cell(25, 6, str(summary.by_hazard_grid.get((hazard, grid), 0)), border=1)
        pdf.ln()
    # bar chart: hazards per grid
    pdf.ln(4)
    pdf.set_font("cjk", size=10)
    pdf.cell(text=TEXT["chart"], new_x="LMARGIN", new_y="NEXT")
    top, height, left = pdf.get_y() + 2, 60.0, pdf.l_margin + 10
    most = max(summary.by_grid.values(), default=0) or 1
    pdf.set_font("cjk", size=7)
    pdf.line(left, top + height, left + 20 * max(len(grids), 1) + 10, top + height)
    for index, grid in enumerate(grids):
        count = summary.by_grid[grid]
        bar = height * count / most
        x = left + 5 + index * 20
        pdf.set_fill_color(200, 60, 40)
        pdf.rect(x, top + height - bar, 12, bar, style="F")
        pdf.set_xy(x - 2, top + height + 1)
        pdf.cell(16, 4, grid[:12], align="C")
        pdf.set_xy(x - 2, top + height - bar - 5)
        pdf.cell(16, 4, str(count), align="C")


def _read(store: EvidenceStore, key: str | None) -> bytes | None:
    if key is None:
        return None
    path = store.path(key)
    return None if path is None else path.read_bytes()


def _thumbnail(picture: bytes | None) -> bytes | None:
    """A small JPEG of a stored picture (None when absent or unreadable)."""
    if picture is None:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(picture)) as image:
            small = image.convert("RGB")
            small.thumbnail(THUMB_PX)
            out = io.BytesIO()
            small.save(out, format="JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, OSError):
        return None


def _text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
