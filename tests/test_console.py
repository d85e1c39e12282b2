"""The web console: its static files (public, no data, no outside resources), the workflow
rules it is given, and the whole of it in Debian's headless Chromium against a real API server
(sign in, a new alert arrives live, its clip plays, an operator works the case to closed, a
viewer sees no workflow buttons, an auditor sees the audit trail). Screenshots are kept in
``data/test-artifacts/console/``."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI

from alerts.cases import CaseService
from alerts.clip_recorder import ClipReady
from alerts.ledger import Ledger
from alerts.model import Evidence
from alerts.service import AlertService
from alerts.workflow import RULES, Action
from core.vocabulary import Hazard, Severity
from detect.observations import Box, Observation, Phase
from ingest.frames import Frame
from ingest.status import CameraState, CameraStatus
from sitewatch.api import create_app
from sitewatch.api.context import ApiDependencies
from sitewatch.api.live_stream import LiveFeed
from sitewatch.api.routes.console import CSP
from tests.api_site import TOKENS, TOPICS, make_site, serve, token_of
from tests.browser import launch, wait_until_playing
from tests.media import h264_clip, pattern_frames

CONSOLE = Path(__file__).resolve().parents[1] / "sitewatch" / "console"
ARTIFACTS = Path(__file__).resolve().parents[1] / "data" / "test-artifacts" / "console"
FRAME = next(pattern_frames(640, 360, 1))
OUTLINE = ((380, 120), (600, 120), (600, 340), (380, 340))
PHOTO = cv2.imencode(".jpg", np.full((90, 160, 3), 90, np.uint8))[1].tobytes()


# --------------------------------------------------------------------------- static files


def test_the_console_is_served_without_a_token_and_locked_down(tmp_path: Path) -> None:
    client = make_site(tmp_path).client
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-frame-options"] == "DENY"
    script = client.get("/console/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/console/style.css").headers["content-type"].startswith("text/css")
    for name in ("nope.js", "..%2Fapp.py", ".hidden.js", "app.py", "%2E%2E%2Fpyproject.toml"):
        assert client.get(f"/console/{name}").status_code == 404, name


def test_every_file_the_console_loads_is_local_and_served(tmp_path: Path) -> None:
    client = make_site(tmp_path).client
    texts = {path.name: path.read_text() for path in CONSOLE.iterdir() if path.is_file()}
    outside = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")
    assert not [name for name, text in texts.items() if outside.search(text)], "no CDN"
    wanted = set(re.findall(r'(?:src|href)="([\w.-]+)"', texts["index.html"]))
    for text in texts.values():
        wanted |= set(re.findall(r'from "\./([\w.-]+)"', text))
    assert {"app.js", "style.css", "icon.svg", "api.js", "feed.js", "alert.js"} <= wanted
    for name in wanted:
        assert client.get(f"/console/{name}").status_code == 200, name


def test_rules_json_is_the_state_machine_the_api_enforces(tmp_path: Path) -> None:
    rules = make_site(tmp_path).client.get("/console/rules.json").json()
    assert rules["case_roles"] == ["operator", "admin"]
    assert rules["audit_roles"] == ["auditor", "admin"]
    assert set(rules["actions"]) == {a.value for a in Action} - {"escalate"}
    for action, rule in RULES.items():
        if action is not Action.ESCALATE:
            shown = rules["actions"][action.value]
            assert set(shown["from"]) == {s.value for s in rule.allowed_from}, action
            assert shown["to"] == (None if rule.to is None else rule.to.value), action


# --------------------------------------------------------------------------- in Chromium


@dataclass
class LiveSite:
    """A site on the real clock: cameras with frames, alerts made through AlertService."""

    tmp: Path
    ledger: Ledger
    alerts: AlertService
    app: FastAPI

    def observe(
        self, hazard: Hazard, phase: Phase, zone: str, severity: Severity = Severity.WARNING
    ) -> str:
        box = Box("fire", 0.9, 420, 160, 560, 320)
        observation = Observation(
            "dock", zone, hazard, phase, time.time(), 0.91, severity, outline=OUTLINE, boxes=(box,)
        )
        change = self.alerts.handle(observation, FRAME if phase is Phase.START else None)
        assert change is not None
        return change.after.alert_id

    def add_clip(self, alert_id: str) -> None:
        """A real H.264 clip (6 s) recorded for the alert."""
        made = h264_clip(self.tmp / "made", f"{alert_id}.mp4", seconds=6.0)
        relative = f"evidence/{alert_id}/clip.mp4"
        shutil.copyfile(made, self.tmp / relative)
        digest = hashlib.sha256(made.read_bytes()).hexdigest()
        now = time.time()
        self.alerts.clip_ready(
            ClipReady(alert_id, 1, Evidence(relative, digest), now - 6, now, False)
        )


def live_site(tmp: Path) -> LiveSite:
    ledger = Ledger(tmp / "ledger.sqlite3")
    alerts = AlertService(ledger, TOPICS, tmp, "http://testserver", {}, min_update_interval_s=0)
    cases = CaseService(ledger, TOPICS, tmp, "http://testserver")
    frames = {"dock": FRAME}
    started = (time.monotonic(), time.time())

    def live_frames(camera: str) -> Frame | None:
        return Frame("dock", FRAME, 1, *started, None) if camera == "dock" else None

    def cameras() -> list[CameraStatus]:
        return [
            CameraStatus("dock", CameraState.ONLINE, time.time(), None, "h264", 640, 360, 900, 880),
            CameraStatus("yard", CameraState.OFFLINE, time.time(), last_error="no route to host"),
        ]

    app = create_app(
        ApiDependencies(
            ledger,
            tmp,
            TOPICS,
            "http://testserver",
            cases,
            cameras=cameras,
            health=lambda: {"mqtt_connected": True},
            latest_frame=frames.get,
            tokens=TOKENS,
            live=LiveFeed(live_frames),
        )
    )
    return LiveSite(tmp, ledger, alerts, app)


@pytest.mark.integration
def test_console_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    site = live_site(tmp_path)
    earlier = site.observe(Hazard.BLOCKED_EXIT, Phase.START, "exit-1")
    site.observe(Hazard.BLOCKED_EXIT, Phase.END, "exit-1")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    photo = tmp_path / "done.jpg"
    photo.write_bytes(PHOTO)
    errors: list[str] = []

    def shot(page: Page, name: str) -> None:
        page.evaluate("() => window.scrollTo(0, 0)")  # the sticky top bar at the top
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    def act(page: Page, action: str, fill: dict[str, str] | None = None) -> None:
        page.click(f'#actions button[data-action="{action}"]')
        if fill is not None:
            for selector, value in fill.items():
                page.fill(selector, value)
            page.click(f'form[data-action="{action}"] button[type="submit"]')

    with serve(site.app) as base, sync_playwright() as driver:
        browser = launch(driver)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/")

            # Sign in: a wrong token shows the API's reason, a good one opens the live feed.
            page.fill("#token", "sw_0123456789ab_" + "x" * 43)
            page.click("#sign-in")
            expect(page.locator("#login-error")).to_contain_text("unknown token")
            shot(page, "01-sign-in-refused")
            page.fill("#token", token_of("operator"))
            page.click("#sign-in")
            expect(page.locator("#feed li")).to_have_count(1)
            expect(page.locator("#live")).to_have_text("● LIVE")
            expect(page.locator("#who")).to_have_text("operator-holder · operator")
            page.evaluate("() => { window.sameDocument = true; }")
            shot(page, "02-feed")

            # A new critical alert appears at the top without a reload.
            fire = site.observe(Hazard.FLAME, Phase.START, "bay-2", severity=Severity.CRITICAL)
            rows = page.locator("#feed li")
            expect(rows).to_have_count(2, timeout=10_000)
            expect(rows.first).to_have_attribute("data-alert-id", fire)
            expect(rows.first).to_have_class(re.compile(r"\bcritical\b"))
            expect(rows.first).to_contain_text("Flame / smoke")
            expect(rows.nth(1)).to_have_attribute("data-alert-id", earlier)
            assert page.evaluate("() => window.sameDocument") is True
            shot(page, "03-new-alert-live")

            # Its page: the annotated snapshot and the clip, which plays.
            site.add_clip(fire)
            rows.first.click()
            expect(page.locator("#state")).to_have_text("open")
            wait_until_playing(page, "clip", past_s=0.0)
            played = [page.evaluate("() => document.getElementById('clip').currentTime")]
            page.wait_for_timeout(700)
            played.append(page.evaluate("() => document.getElementById('clip').currentTime"))
            assert played[1] > played[0], played
            assert page.evaluate("() => document.getElementById('snapshot').naturalWidth") == 640
            shot(page, "04-alert-clip-playing")

            # Work the case: acknowledge, assign, rectify with a photo.
            act(page, "acknowledge")
            expect(page.locator("#state")).to_have_text("acknowledged")
            expect(page.locator("#action-message")).to_have_text("Acknowledged.")
            act(page, "assign", {"#field-owner": "J. Ruiz"})
            expect(page.locator("#state")).to_have_text("assigned")
            expect(page.locator("#case")).to_contain_text("J. Ruiz")
            page.click('#actions button[data-action="rectify"]')
            page.fill("#field-done", "Extinguished, bay cleared")
            page.set_input_files("#field-photo", photo)
            page.click('form[data-action="rectify"] button[type="submit"]')
            expect(page.locator("#state")).to_have_text("rectified")
            expect(page.locator(".extras figcaption")).to_have_text(["Rectification photo 1"])

            # Closing while the hazard is still detected: the API's 409 reason is shown.
            act(page, "close", {"#field-note": "checked on camera"})
            expect(page.locator("#action-message")).to_have_text(
                "Not possible now: the hazard is still detected on camera (the incident has "
                "not ended)"
            )
            expect(page.locator("#state")).to_have_text("rectified")
            shot(page, "05-close-refused")

            # The incident ends (the page follows live), then it closes.
            site.observe(Hazard.FLAME, Phase.END, "bay-2", severity=Severity.CRITICAL)
            expect(page.locator("#activity")).to_have_text("incident ended")
            act(page, "close", {"#field-note": "checked on camera"})
            expect(page.locator("#state")).to_have_text("closed")
            history = page.locator(".history tbody")
            for step in ("Acknowledge", "Assign", "Mark rectified", "Verify & close"):
                expect(history).to_contain_text(f"operator-holder: {step}")
            expect(page.locator('#actions button[data-action="reopen"]')).to_be_visible()
            shot(page, "06-closed")

            # Back in the feed, the case shows as closed.
            page.click('nav a[data-view="feed"]')
            expect(page.locator(f'#feed li[data-alert-id="{fire}"] .badge')).to_have_text("closed")

            # Cameras: state and the latest frame.
            page.click('nav a[data-view="cameras"]')
            expect(page.locator('[data-camera="dock"] .badge')).to_have_text("online")
            expect(page.locator('[data-camera="yard"] .badge')).to_have_text("offline")
            expect(page.locator('[data-camera="yard"]')).to_contain_text("no route to host")
            page.wait_for_function(
                "() => document.querySelector('[data-camera=dock] canvas').width === 480"
            )
            expect(page.locator('[data-camera="yard"] .no-frame')).to_have_text("no frame yet")
            shot(page, "07-cameras")

            # The chart of alerts per hazard per day.
            page.click('nav a[data-view="chart"]')
            expect(page.locator('#chart rect.bar[data-hazard="flame"]')).to_have_count(1)
            expect(page.locator('#chart rect.bar[data-hazard="blocked_exit"]')).to_have_count(1)
            expect(page.locator("#legend")).to_contain_text("Flame / smoke: 1")
            expect(page.locator("#legend")).to_contain_text("Blocked exit: 1")
            shot(page, "08-chart")

            # A viewer follows the case but has no workflow buttons; an auditor sees the trail.
            other = browser.new_page(viewport={"width": 1600, "height": 1000})
            other.on("pageerror", lambda error: errors.append(str(error)))
            other.goto(f"{base}/console/#/alert/{fire}")
            other.fill("#token", token_of("viewer"))
            other.click("#sign-in")
            expect(other.locator("#state")).to_have_text("closed")
            expect(other.locator("#read-only")).to_contain_text("viewer")
            expect(other.locator("#actions button")).to_have_count(0)
            expect(other.locator(".audit")).to_have_count(0)
            shot(other, "09-viewer")
            other.click("#sign-out")
            other.fill("#token", token_of("auditor"))
            other.click("#sign-in")
            expect(other.locator('.audit td[data-action="case.close"]')).to_have_count(1)
            expect(other.locator("#actions button")).to_have_count(0)
            shot(other, "10-auditor")
        finally:
            browser.close()
    assert errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for picture in shots.iterdir():
        shutil.copyfile(picture, ARTIFACTS / picture.name)


@pytest.mark.integration
def test_the_browser_stream_sends_the_token_and_resumes_with_last_event_id(
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    site = live_site(tmp_path)
    site.observe(Hazard.BLOCKED_EXIT, Phase.START, "exit-1")
    first = site.ledger.events_after(0)[0]  # the alert's "new" event
    connections: list[dict[str, str]] = []

    def events(route: Route) -> None:
        connections.append(route.request.headers)
        if len(connections) == 1:  # one event, then the connection drops
            body = f"retry: 200\n\nid: {first.position}\nevent: alert\ndata: {first.payload}\n\n"
            route.fulfill(status=200, content_type="text/event-stream", body=body)
        else:
            route.continue_()

    with serve(site.app) as base, sync_playwright() as driver:
        browser = launch(driver)
        try:
            page = browser.new_page()
            page.route("**/api/events", events)
            page.goto(f"{base}/console/")
            page.fill("#token", token_of("viewer"))
            page.click("#sign-in")
            expect(page.locator("#feed li")).to_have_count(1)
            for _ in range(50):  # the handler runs while Playwright waits
                if len(connections) >= 2:
                    break
                page.wait_for_timeout(100)
            expect(page.locator("#live")).to_have_text("● LIVE")
            # Resumed: a new alert still arrives, on the second connection.
            fire = site.observe(Hazard.FLAME, Phase.START, "bay-2")
            expect(page.locator("#feed li").first).to_have_attribute("data-alert-id", fire)
        finally:
            browser.close()
    assert all(c["authorization"] == f"Bearer {token_of('viewer')}" for c in connections)
    assert "last-event-id" not in connections[0]
    assert connections[1]["last-event-id"] == str(first.position)
