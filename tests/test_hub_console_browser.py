"""The central console in Debian's headless Chromium against a real hub API (uvicorn, a real
PostgreSQL holding the events of three real edges): a grid supervisor sees its grid's sites
and filters by site, a site officer only their site, the supervised list shows a listed case
as a board, per-grid charts, and the zh-CN pages have no English word and no missing glyph.
Screenshots go to ``data/test-artifacts/hub-console/``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from alerts.cases import CaseRequest
from alerts.workflow import Action
from core.vocabulary import Hazard
from hub.config_loader import load_hub_config
from hub.evidence_store import DirectoryStore
from hub.intake import Event, judge_event
from hub.metrics import HubMetrics
from hub.migrations import migrate
from hub.store import register_sites, store_event
from hub.web.app import create_hub_app, serve
from sitewatch.demo.rtsp import free_port
from tests.hub_env import (
    HOST,
    OFFICER_TOKENS,
    STREET_TOKEN,
    SUPERVISOR_TOKEN,
    edge,
    event_payloads,
    hub_config,
    postgres,
    wait_until,
)
from tests.test_console_browser import chromium, page_problems

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[1] / "data" / "test-artifacts" / "hub-console"
SITES = ("plant-a", "plant-b", "plant-c")  # north: a, b; south: c (tests.hub_env.hub_config)
VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}


@dataclass(frozen=True)
class Centre:
    """The hub API's base URL, the alerts of each site and the one on the supervised list."""

    base: str
    alerts: dict[str, list[str]]
    listed: str
    data: set[str]  # names and ids shown as data, not interface words


def _store(dsn: str, site: str, payloads: list[str]) -> None:
    with psycopg.connect(dsn) as db, db.transaction():
        for text in payloads:
            judged = judge_event(site, frozenset(SITES), text.encode())
            assert isinstance(judged, Event), judged
            store_event(db, judged, "mqtt")


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    tmp = tmp_path_factory.mktemp("hub-console")
    with (
        postgres() as pg,
        edge(tmp, "plant-a", None) as a,
        edge(tmp, "plant-b", None) as b,
        edge(tmp, "plant-c", None) as c,
    ):
        dsn = pg.create_database("hub")
        config = load_hub_config(hub_config(tmp, dsn, 1883, {n.site: n.api_url for n in (a, b, c)}))
        alerts = {
            "plant-a": [a.raise_alert(), a.raise_alert(hazard=Hazard.FLAME)],
            "plant-b": [b.raise_alert(hazard=Hazard.MISSING_HARDHAT)],
            "plant-c": [c.raise_alert()],
        }
        deadline = time.time() + 3 * 3600
        a.cases.apply(
            alerts["plant-a"][0],
            CaseRequest(Action.ASSIGN, "op", owner="Zhou Min", deadline=deadline),
        )
        with psycopg.connect(dsn) as db:
            migrate(db)
            register_sites(db, [(s.id, config.grid_of(s.id), s.name) for s in config.sites])
        for node in (a, b, c):
            _store(dsn, node.site, event_payloads(node))
        app = create_hub_app(
            config, HubMetrics(), lambda: psycopg.connect(dsn), DirectoryStore(tmp / "ev"), dict
        )
        port = free_port()
        server = serve(app, HOST, port)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        assert wait_until(lambda: server.started, 10), "the hub API did not start"
        base = f"http://{HOST}:{port}"
        listed = alerts["plant-a"][1]
        due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        answer = httpx.post(
            f"{base}/api/alerts/{listed}/supervise",
            json={"deadline": due, "note": "挂牌督办"},
            headers={"Authorization": f"Bearer {SUPERVISOR_TOKEN}"},
        )
        assert answer.status_code == 201, answer.text
        data = {s.name for s in config.sites} | {g.name for g in config.grids}
        data |= {p.name for p in config.people} | {config.street_office.name, "Zhou Min"}
        data |= set(SITES) | {"dock", "English"} | {f"zone-{i}" for i in range(3)}
        try:
            yield Centre(base, alerts, listed, data)
        finally:
            server.should_exit = True
            thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def sign_in(browser: Browser, centre: Centre, token: str, locale: str = "en-GB") -> Page:
    page = browser.new_page(locale=locale, viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{centre.base}/console/")
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#fleet-rows tr")
    assert errors == []
    return page


def shown_sites(page: Page) -> set[str]:
    found: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('#fleet-rows tr')].map(r => r.dataset.site)"
    )
    return set(found)


def options(page: Page, name: str) -> list[str]:
    found: list[str] = page.evaluate(
        f"() => [...document.querySelectorAll('#filter-{name} option')].map(o => o.value)"
    )
    return found


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_for_rows(page: Page, sites: set[str]) -> None:
    page.wait_for_function(
        "(want) => { const rows = [...document.querySelectorAll('#fleet-rows tr')];"
        " return rows.length > 0 && rows.every(r => want.includes(r.dataset.site)); }",
        arg=sorted(sites),
    )


def test_a_grid_supervisor_sees_the_sites_of_its_grid_and_filters_by_site(
    centre: Centre, browser: Browser
) -> None:
    page = sign_in(browser, centre, SUPERVISOR_TOKEN)
    assert shown_sites(page) == {"plant-a", "plant-b"}
    assert options(page, "grid") == ["", "north"]
    assert options(page, "site") == ["", "plant-a", "plant-b"]
    assert page.locator("#scope").inner_text() == "Grid: North grid"
    page.select_option("#filter-site", "plant-b")
    wait_for_rows(page, {"plant-b"})
    assert "site=plant-b" in page.evaluate("() => location.hash")
    ids = page.evaluate(
        "() => [...document.querySelectorAll('#fleet-rows tr')].map(r => r.dataset.alertId)"
    )
    assert ids == centre.alerts["plant-b"]
    shot(page, "en-01-supervisor-site-filter")
    page.close()


def test_a_site_officer_sees_only_its_site_in_every_view(centre: Centre, browser: Browser) -> None:
    page = sign_in(browser, centre, OFFICER_TOKENS["plant-a"])
    assert shown_sites(page) == {"plant-a"}
    assert len(page.locator("#fleet-rows tr").all()) == len(centre.alerts["plant-a"])
    assert options(page, "site") == ["", "plant-a"] and options(page, "grid") == ["", "north"]
    page.evaluate("() => { location.hash = '#/board'; }")
    page.wait_for_selector(".board-card")
    cards = page.evaluate(
        "() => [...document.querySelectorAll('.board-card')].map(c => c.dataset.site)"
    )
    assert cards == ["plant-a"]
    page.evaluate("() => { location.hash = '#/charts'; }")
    page.wait_for_selector(".grid-chart svg")
    charts = page.locator(".grid-chart")
    assert charts.count() == 1 and charts.first.get_attribute("data-grid") == "north"
    labels = charts.first.inner_text()
    assert "Site plant-a" in labels and "Site plant-b" not in labels
    page.close()


def test_the_supervised_board_shows_the_listed_case(centre: Centre, browser: Browser) -> None:
    page = sign_in(browser, centre, STREET_TOKEN)
    assert shown_sites(page) == set(SITES)
    page.select_option("#filter-supervised", "true")
    page.wait_for_function("() => document.querySelectorAll('#fleet-rows tr').length === 1")
    row = page.locator("#fleet-rows tr").first
    assert row.get_attribute("data-alert-id") == centre.listed
    assert "supervised by Li Wei" in row.inner_text()
    page.evaluate("() => { location.hash = '#/board'; }")
    page.wait_for_selector("#board-open .board-card")
    card = page.locator("#board-open .board-card")
    assert card.count() == 1 and card.first.get_attribute("data-alert-id") == centre.listed
    text = card.first.inner_text()
    assert "Supervisor: Li Wei" in text and "Flame / smoke" in text and "Site plant-a" in text
    assert page.locator("#board-overdue .board-card").count() == 0
    shot(page, "en-02-board")
    page.evaluate("() => { location.hash = '#/charts'; }")
    page.wait_for_selector(".grid-chart svg")
    grids = page.evaluate(
        "() => [...document.querySelectorAll('.grid-chart')].map(c => c.dataset.grid)"
    )
    assert grids == ["north", "south"]
    summary = page.locator("#charts-summary").inner_text()
    assert "4 hazards this month, 0 overdue. None closed out yet." in summary
    shot(page, "en-03-charts")
    page.close()


def test_the_chinese_pages_have_no_english_word_and_no_missing_glyph(
    centre: Centre, browser: Browser
) -> None:
    page = browser.new_page(locale="zh-CN", viewport=VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{centre.base}/console/")
    page.wait_for_selector("#login:not([hidden])")
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")  # set by i18n.js
    assert page_problems(page, centre.data) == ([], []), "sign-in page"
    shot(page, "zh-01-sign-in")
    page.fill("#token", STREET_TOKEN)
    page.click("#sign-in")
    page.wait_for_selector("#fleet-rows tr")
    problems: dict[str, Any] = {}
    for route, ready, name in (
        ("#/alerts", "#fleet-rows tr", "zh-02-alerts"),
        ("#/board", ".board-card", "zh-03-board"),
        ("#/charts", ".grid-chart svg", "zh-04-charts"),
    ):
        page.evaluate(f"() => {{ location.hash = '{route}'; }}")
        page.wait_for_selector(ready)
        found = page_problems(page, centre.data)
        if found != ([], []):
            problems[route] = found
        shot(page, name)
    assert problems == {}
    assert "挂牌督办" in page.locator("nav").inner_text()
    assert errors == []
    page.close()
