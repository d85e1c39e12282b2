"""The hazard ledger export (real PostgreSQL, evidence fetched from a real edge): XLSX with a
row and thumbnail per hazard and a summary chart, PDF with the CJK font embedded, monthly
figures (counts per hazard and grid, median time to close, overdue)."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from alerts.cases import CaseRequest
from alerts.workflow import Action
from core.vocabulary import Hazard
from hub.config_loader import load_hub_config
from hub.evidence_fetch import EvidenceFetcher
from hub.evidence_store import DirectoryStore
from hub.intake import Event, judge_event
from hub.ledger_export import ledger_rows, summarise
from hub.metrics import HubMetrics
from hub.migrations import migrate
from hub.store import queue_evidence, register_sites, store_event
from hub.web.app import create_hub_app
from tests.hub_env import OFFICER_TOKENS, STREET_TOKEN, edge, event_payloads, hub_config, postgres

pytestmark = pytest.mark.integration


def test_the_ledger_exports_as_xlsx_and_pdf_with_the_monthly_summary(tmp_path: Path) -> None:
    with postgres() as pg, edge(tmp_path, "plant-a", None) as node:
        dsn = pg.create_database("hub")
        path = hub_config(
            tmp_path, dsn, 1883, {"plant-a": node.api_url, "plant-b": "http://127.0.0.1:9"}
        )
        config = load_hub_config(path)
        closed = node.raise_alert()
        overdue = node.raise_alert(hazard=Hazard.FLAME)
        node.raise_alert()
        soon = time.time() + 2.0
        cases = node.cases
        cases.apply(
            closed, CaseRequest(Action.ASSIGN, "op", owner="Zhou", deadline=time.time() + 3600)
        )
        cases.apply(closed, CaseRequest(Action.RECTIFY, "op", note="清理了安全出口 exit cleared"))
        node.end_alert(closed)
        cases.apply(closed, CaseRequest(Action.CLOSE, "Li Wei (hub)"))
        cases.apply(overdue, CaseRequest(Action.ASSIGN, "op", owner="Qian", deadline=soon))
        store = DirectoryStore(tmp_path / "store")
        with psycopg.connect(dsn) as db:
            migrate(db)
            register_sites(db, [("plant-a", "north", "华东机械厂"), ("plant-b", "north", "B")])
            with db.transaction():
                for text in event_payloads(node):
                    judged = judge_event("plant-a", frozenset({"plant-a"}), text.encode())
                    assert isinstance(judged, Event)
                    store_event(db, judged, "mqtt")
                    queue_evidence(db, judged)
            fetcher = EvidenceFetcher(config, store, HubMetrics())
            while fetcher.fetch_due(db):
                pass
            fetcher.close()
            now = datetime.now(UTC)
            start, end = now - timedelta(days=1), now + timedelta(days=1)
            rows = ledger_rows(db, store, ["plant-a", "plant-b"], start, end)
            summary = summarise(rows, start, end, now + timedelta(seconds=5))
        assert len(rows) == 3 and all(r.snapshot for r in rows)
        done = next(r for r in rows if r.alert_id == closed)
        assert (
            done.closed_by == "Li Wei (hub)"
            and done.rectification_note == "清理了安全出口 exit cleared"
        )
        assert summary.by_hazard_grid == {("blocked_exit", "north"): 2, ("flame", "north"): 1}
        assert summary.overdue == 1 and summary.median_close_h is not None
        app = create_hub_app(config, HubMetrics(), lambda: psycopg.connect(dsn), store, dict)
        client = TestClient(app)
        headers = {"Authorization": f"Bearer {STREET_TOKEN}"}
        month = f"{datetime.now(UTC):%Y-%m}"
        xlsx = client.get(f"/api/ledger.xlsx?month={month}", headers=headers)
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.content))
        sheet = book["Ledger"]
        assert sheet.max_row == 4 and sheet["A2"].value == "华东机械厂"
        assert len(sheet._images) == 3  # one snapshot thumbnail per hazard
        assert len(book["Summary"]._charts) == 1
        pdf = client.get(f"/api/ledger.pdf?month={month}&site=plant-a", headers=headers)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert b"NotoSansCJK" in pdf.content and b"/FontFile3" in pdf.content  # embedded CJK font
        summary_json = client.get(f"/api/summary?month={month}", headers=headers).json()
        assert summary_json["total"] == 3 and summary_json["overdue"] >= 0
        other = {"Authorization": f"Bearer {OFFICER_TOKENS['plant-b']}"}
        assert client.get(f"/api/summary?month={month}", headers=other).json()["total"] == 0
        assert client.get("/api/ledger.pdf?site=plant-a", headers=other).status_code == 404
