"""The central console in Debian's headless Chromium against a real hub API (uvicorn, a real
PostgreSQL holding the events of three real edges, evidence fetched from the edges' APIs into
the hub's store): a grid supervisor sees its grid's sites and filters by site, a site officer
only their site, the supervised list shows a listed case as a board, per-grid charts; the
alert page shows the snapshot, the history and the case, an action is pending until the edge
applies the command (the edge's own command handler; the test carries the command and the
edge's events between them as the brokers would) and an edge's refusal is worded by its code;
the zh-CN pages have no English word and no missing glyph. Screenshots go to
``data/test-artifacts/hub-console/``."""

from __future__ import annotations

import json
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
import yaml

from alerts.cases import CaseRequest
from alerts.commands import handle_command, prepare
from alerts.workflow import Action
from core.vocabulary import Hazard
from hub.commands import command_payload, settle_from_event, settle_from_result
from hub.config_loader import load_hub_config
from hub.evidence_fetch import EvidenceFetcher
from hub.evidence_store import DirectoryStore
from hub.intake import Event, judge_event
from hub.metrics import HubMetrics
from hub.migrations import migrate
from hub.store import Outcome, queue_evidence, register_sites, store_event
from hub.web.app import create_hub_app, serve
from sitewatch.demo.rtsp import free_port
from tests.hub_env import (
    HOST,
    OFFICER_TOKENS,
    STREET_TOKEN,
    SUPERVISOR_TOKEN,
    Edge,
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
SITE_ZONE = "Asia/Shanghai"  # every site's time zone in hub.yaml


@dataclass(frozen=True)
class Centre:
    """The hub API's base URL, the alerts of each site and the one on the supervised list."""

    base: str
    alerts: dict[str, list[str]]
    listed: str
    data: set[str]  # names and ids shown as data, not interface words
    dsn: str
    edges: dict[str, Edge]


def _store(dsn: str, site: str, payloads: list[str]) -> None:
    """Store the events as the hub's consumer does: a new one queues its evidence, a state
    event settles its command; copies already stored change nothing."""
    with psycopg.connect(dsn) as db, db.transaction():
        for text in payloads:
            judged = judge_event(site, frozenset(SITES), text.encode())
            assert isinstance(judged, Event), judged
            if store_event(db, judged, "mqtt") is Outcome.STORED:
                queue_evidence(db, judged)
                settle_from_event(db, judged, HubMetrics())


def _with_site_zones(path: Path) -> Path:
    document = yaml.safe_load(path.read_text())
    for site in document["sites"]:
        site["timezone"] = SITE_ZONE
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


def deliver_pending_command(centre: Centre, alert_id: str) -> dict[str, Any]:
    """Carry the alert's pending command to its edge, which applies it through its own
    handler; carry back the edge's answer and events (what the brokers do in production)."""
    with psycopg.connect(centre.dsn) as db:
        row = db.execute(
            "SELECT command_id, alert_id, action, params, actor, expected_state, created_at,"
            " site_id FROM commands WHERE alert_id = %s AND status = 'pending'",
            (alert_id,),
        ).fetchone()
    assert row is not None, f"no pending command for {alert_id}"
    node = centre.edges[row[7]]
    result = handle_command(node.ledger, node.cases, command_payload(row[:7]).encode(), time.time())
    with psycopg.connect(centre.dsn) as db, db.transaction():
        settle_from_result(db, node.site, json.dumps(result).encode(), HubMetrics())
    _store(centre.dsn, node.site, event_payloads(node))
    return result


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
        config = load_hub_config(
            _with_site_zones(hub_config(tmp, dsn, 1883, {n.site: n.api_url for n in (a, b, c)}))
        )
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
            prepare(node.ledger)
            _store(dsn, node.site, event_payloads(node))
        store = DirectoryStore(tmp / "ev")
        fetcher = EvidenceFetcher(config, store, HubMetrics())
        with psycopg.connect(dsn, autocommit=True) as db:
            while fetcher.fetch_due(db):
                pass
            counts = db.execute("SELECT count(*), count(fetched_at) FROM evidence").fetchone()
            assert counts is not None and counts[0] >= 4 and counts[0] == counts[1], counts
        fetcher.close()
        app = create_hub_app(config, HubMetrics(), lambda: psycopg.connect(dsn), store, dict)
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
        data |= set(SITES) | {"dock", "English", "op", SITE_ZONE} | {f"zone-{i}" for i in range(3)}
        data |= {i for ids in alerts.values() for i in ids}
        try:
            yield Centre(base, alerts, listed, data, dsn, {n.site: n for n in (a, b, c)})
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


def open_alert(page: Page, alert_id: str) -> None:
    """Follow the alert's link in the list and wait for its page."""
    page.click(f"#fleet-rows tr[data-alert-id='{alert_id}'] a.open-alert")
    page.wait_for_selector(f".alert-view[data-alert-id='{alert_id}'] #case-state")


def test_a_supervisor_acknowledges_an_alert_pending_until_the_edge_applies_it(
    centre: Centre, browser: Browser
) -> None:
    alert_id = centre.listed  # plant-a's flame alert, open, on the supervised list
    page = sign_in(browser, centre, SUPERVISOR_TOKEN)
    open_alert(page, alert_id)
    assert page.evaluate("() => location.hash") == f"#/alerts/{alert_id}"
    page.wait_for_function(
        "() => { const i = document.querySelector('#snapshot');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert page.evaluate("() => document.querySelector('#snapshot').src").startswith("blob:")
    assert page.locator(".alert-head h1").inner_text() == "Flame / smoke"
    assert page.locator("#alert-site").inner_text() == "Site plant-a · North grid"
    assert f"times in {SITE_ZONE}" in page.locator(".alert-head + .meta").inner_text()
    assert page.locator(".history tbody tr").count() >= 1
    assert "supervised by Li Wei" in page.locator("#case").inner_text()
    assert page.locator("#case-state").text_content() == "open"
    page.click("#actions button[data-action='acknowledge']")
    page.wait_for_selector("#command-status[data-state='pending']")
    assert "waiting for it to apply" in page.locator("#command-status").inner_text()
    assert page.locator("#actions button[data-action='assign']").is_disabled()
    shot(page, "en-04-alert-pending")
    result = deliver_pending_command(centre, alert_id)
    assert result["status"] == "applied", result
    page.wait_for_selector("#command-status[data-state='applied']")
    assert page.locator("#case-state").text_content() == "acknowledged"
    assert "applied by the site" in page.locator("#command-status").inner_text()
    assert page.locator("#actions button[data-action='acknowledge']").count() == 0
    assert page.locator("#actions button[data-action='assign']").is_enabled()
    # The history now holds the edge's state event with the centre's actor.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.history tr.event-state')]"
        ".some(r => r.innerText.includes('Li Wei'))"
    )
    shot(page, "en-05-alert-applied")
    page.close()


def test_an_edge_refusal_is_shown_by_its_code(centre: Centre, browser: Browser) -> None:
    alert_id = centre.alerts["plant-b"][0]
    page = sign_in(browser, centre, SUPERVISOR_TOKEN)
    open_alert(page, alert_id)
    assert page.locator("#case-state").text_content() == "open"
    # Meanwhile someone at the site acknowledges it there: the case moved on at the edge.
    centre.edges["plant-b"].cases.apply(alert_id, CaseRequest(Action.ACKNOWLEDGE, "op"))
    page.click("#actions button[data-action='acknowledge']")
    page.wait_for_selector("#command-status[data-state='pending']")
    result = deliver_pending_command(centre, alert_id)
    assert result["status"] == "rejected", result
    page.wait_for_selector("#command-status[data-state='rejected']")
    assert page.locator("#command-status").inner_text() == (
        "Acknowledge: the site refused — the case moved on at the site (it is now"
        " acknowledged): reload and act again"
    )
    page.close()


def test_an_officer_cannot_open_or_act_on_another_sites_alert(
    centre: Centre, browser: Browser
) -> None:
    other = centre.alerts["plant-b"][0]
    page = sign_in(browser, centre, OFFICER_TOKENS["plant-a"])
    page.evaluate(f"() => {{ location.hash = '#/alerts/{other}'; }}")
    page.wait_for_selector(".alert-view .message.error:not([hidden])")
    assert page.locator(".alert-view .message.error").inner_text() == f"No such alert: {other}"
    assert page.locator("#case-state").count() == 0 and page.locator("#snapshot").count() == 0
    headers = {"Authorization": f"Bearer {OFFICER_TOKENS['plant-a']}"}
    for method, path, body in (
        ("GET", f"/api/alerts/{other}", None),
        ("POST", f"/api/alerts/{other}/actions", {"action": "comment", "note": "x"}),
        ("GET", f"/api/alerts/{other}/evidence/snapshot.jpg", None),
    ):
        answer = httpx.request(method, centre.base + path, json=body, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
    with psycopg.connect(centre.dsn) as db:
        row = db.execute(
            "SELECT count(*) FROM commands WHERE alert_id = %s AND action = 'comment'", (other,)
        ).fetchone()
    assert row == (0,)
    # Their own site's alert opens, with the actions an officer may take.
    page.evaluate("() => { location.hash = '#/alerts'; }")
    page.wait_for_selector("#fleet-rows tr")
    open_alert(page, centre.alerts["plant-a"][0])
    assert page.locator("#actions button[data-action='comment']").count() == 1
    assert page.locator("#actions button[data-action='supervise']").count() == 0
    page.close()


def test_the_chinese_alert_page_has_no_english_word_and_no_missing_glyph(
    centre: Centre, browser: Browser
) -> None:
    alert_id = centre.alerts["plant-a"][0]  # assigned at the edge by "op"
    page = sign_in(browser, centre, STREET_TOKEN, locale="zh-CN")
    open_alert(page, alert_id)
    page.wait_for_function(
        "() => { const i = document.querySelector('#snapshot');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    page.click("#actions button[data-action='supervise']")
    page.wait_for_selector("form.action-form[data-action='supervise']")
    found = page_problems(page, centre.data)
    shot(page, "zh-05-alert")
    assert found == ([], [])
    assert "挂牌督办" in page.locator("#actions").inner_text()
    page.close()
