"""The console's control-room views in Debian's headless Chromium against a real API server:
the zh-CN and en pages (no English word of the interface in Chinese, no missing glyph), the
language switch that sticks, the live view drawing the detector's boxes, drawing and saving a
zone (and a refused one, its reason in the user's language), the duty desk's shortcuts,
notification and mute, and the printable shift handover. Screenshots and the handover PDF are
kept in ``data/test-artifacts/console/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import yaml

from core.vocabulary import Hazard, Severity, ZoneKind
from detect.detections import Detections
from detect.observations import Observation, Phase
from detect.zones import ZoneShape
from sitewatch.config.zone_files import zone_file_path
from sitewatch.live_results import ExitShare, LiveResult
from tests.api_site import serve, token_of
from tests.browser import launch
from tests.test_console_api import Node

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[1] / "data" / "test-artifacts" / "console"
SNAPSHOT = np.full((360, 640, 3), 80, np.uint8)
LATIN_ALLOWED = {"sitewatch", "JPEG", "PNG", "UTC", "J", "K", "N", "A", "M"}
# A canvas drawing of each character, compared with that of a code point no font has: equal
# pictures mean the character has no glyph either (a tofu box).
MISSING_GLYPHS = """(chars) => {
  const font = getComputedStyle(document.body).fontFamily;
  const canvas = document.createElement("canvas");
  canvas.width = 48; canvas.height = 48;
  const ctx = canvas.getContext("2d");
  const draw = (ch) => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = `32px ${font}`;
    ctx.fillText(ch, 4, 36);
    return ctx.getImageData(0, 0, 48, 48).data.join(",");
  };
  const tofu = draw("\\u{10FFFD}");
  return chars.filter((ch) => draw(ch) === tofu);
}"""
RECORDER = """() => {
  window.notified = [];
  window.alarms = 0;
  window.Notification = class {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, options) { window.notified.push({ title, ...options }); }
  };
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    createOscillator() { window.alarms += 1; return super.createOscillator(); }
  };
}"""


def observe(node: Node, hazard: Hazard, zone: str, severity: Severity, ago_s: float = 0) -> str:
    change = node.alerts.handle(
        Observation("dock", zone, hazard, Phase.START, time.time() - ago_s, 0.9, severity),
        SNAPSHOT,
    )
    assert change is not None
    return change.after.alert_id


@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = launch(driver)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, base: str, role: str, route: str = "") -> None:
    page.goto(f"{base}/console/{route}")
    page.fill("#token", token_of(role))
    page.click("#sign-in")
    page.wait_for_selector("#app:not([hidden])")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def latin_words(text: str, data: set[str]) -> list[str]:
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in LATIN_ALLOWED]


def page_problems(page: Page, data: set[str]) -> tuple[list[str], list[str]]:
    """(Latin words of the interface, characters drawn as tofu) on the page now."""
    text: str = page.evaluate("() => document.body.innerText")
    text += " " + " ".join(
        page.evaluate("() => [...document.querySelectorAll('[title]')].map(e => e.title)")
    )
    chars = sorted({c for c in text if ord(c) > 127 and not c.isspace()})
    missing: list[str] = page.evaluate(MISSING_GLYPHS, chars)
    return latin_words(text, data), missing


def test_the_chinese_pages_have_no_english_word_and_no_missing_glyph(tmp_path: Path) -> None:
    node = Node(tmp_path)
    fire = observe(node, Hazard.FLAME, "frame", Severity.CRITICAL)
    observe(node, Hazard.BLOCKED_EXIT, "exit-1", Severity.WARNING, ago_s=300)
    node.frames.show(1)
    errors: list[str] = []
    # Data, not interface: names of cameras, zones, people, ids, the site's zone; and the
    # language switch, which names English in English.
    data = {"dock", "exit-1", "operator-holder", fire, "plant-a", "Asia/Shanghai", "English"}
    with serve(node.app) as base, chromium() as browser:
        page = browser.new_page(locale="zh-CN", viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/console/")
        page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")  # set by i18n.js
        # The check itself: a code point no font has is found, a Chinese character is not.
        assert page.evaluate(MISSING_GLYPHS, ["\U0010fffe", "告"]) == ["\U0010fffe"]
        words, missing = page_problems(page, data)
        assert (words, missing) == ([], []), "sign-in page"
        shot(page, "zh-01-sign-in")
        page.fill("#token", token_of("operator"))
        page.click("#sign-in")
        rows = page.locator("#feed li")
        page.wait_for_function("() => document.querySelectorAll('#feed li').length === 2")
        assert "明火 / 烟雾" in rows.first.inner_text() and "紧急" in rows.first.inner_text()
        assert page.locator("#live").inner_text() == "● 实时"
        assert page.locator("#clock").get_attribute("title") == "Asia/Shanghai (UTC+08:00)"
        for view, name in (("feed", "zh-02-feed"), ("alert", "zh-03-alert")):
            if view == "alert":
                rows.first.click()
                page.wait_for_selector("#actions button")
                page.wait_for_function(
                    "() => document.getElementById('snapshot')?.naturalWidth > 0"
                )
            words, missing = page_problems(page, data)
            assert (words, missing) == ([], []), view
            shot(page, name)
        page.click('#actions button[data-action="acknowledge"]')
        page.wait_for_function("() => document.getElementById('state').textContent === '已确认'")
        assert page.locator("#action-message").inner_text() == "已确认。"
        for route, name in (
            ("#/duty", "zh-04-duty"),
            ("#/chart", "zh-05-chart"),
            ("#/handover", "zh-06-handover"),
        ):
            page.evaluate(f"() => {{ location.hash = '{route}'; }}")
            page.wait_for_timeout(600)
            words, missing = page_problems(page, data)
            assert (words, missing) == ([], []), (
                route,
                page.evaluate("() => document.body.innerText"),
            )
            shot(page, name)
    assert errors == []


def test_english_pages_and_a_language_switch_that_sticks(tmp_path: Path) -> None:
    node = Node(tmp_path)
    observe(node, Hazard.MISSING_HARDHAT, "frame", Severity.WARNING)
    with serve(node.app) as base, chromium() as browser:
        page = browser.new_page(locale="en-GB", viewport={"width": 1600, "height": 1000})
        sign_in(page, base, "viewer")
        page.wait_for_selector("#feed li")
        assert "No hard hat" in page.locator("#feed li").first.inner_text()
        assert page.locator('nav a[data-view="duty"]').inner_text() == "Duty desk"
        shot(page, "en-01-feed")
        page.select_option("#language", "zh-CN")
        page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
        page.wait_for_selector("#feed li")
        assert "未戴安全帽" in page.locator("#feed li").first.inner_text()
        page.reload()
        page.wait_for_selector("#feed li")
        assert page.locator('nav a[data-view="duty"]').inner_text() == "值班台"


def live_result(node: Node, index: int) -> None:
    frame = node.frames.show(index, 1280, 720)
    found = Detections(
        np.array([[320, 180, 640, 540]], np.float32),
        np.array([0.87], np.float32),
        np.array([0], np.int32),
        ("fire",),
    )
    zone = ZoneShape("exit-1", ZoneKind.EXIT, ((0.6, 0.1), (0.9, 0.1), (0.9, 0.9)))
    result = LiveResult(
        "dock",
        frame.wall_time,
        1280,
        720,
        found,
        frame.wall_time,
        [zone],
        (ExitShare("exit-1", 0.42, "compared"),),
    )
    node.results.put(result)


def pixel(page: Page, selector: str, fx: float, fy: float) -> list[int]:
    found: list[int] = page.evaluate(
        """([selector, fx, fy]) => {
          const c = document.querySelector(selector);
          const x = Math.floor(c.width * fx), y = Math.floor(c.height * fy);
          return [...c.getContext("2d").getImageData(x, y, 1, 1).data];
        }""",
        [selector, fx, fy],
    )
    return found


def test_the_live_view_draws_the_boxes_zones_and_exit_share(tmp_path: Path) -> None:
    node = Node(tmp_path)
    live_result(node, 1)
    errors: list[str] = []
    with serve(node.app) as base, chromium() as browser:
        page = browser.new_page(locale="en-GB", viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, base, "viewer", "#/cameras")
        tile = '[data-camera="dock"]'
        page.wait_for_function(f"() => document.querySelector('{tile}')?.dataset.boxes === '1'")
        assert page.locator(f"{tile} .badge").text_content() == "online"
        assert re.fullmatch(
            r"frame \d+(\.\d)? s old", page.locator(f"{tile} .frame-age").inner_text()
        )
        red = pixel(page, f"{tile} canvas", 0.25, 0.5)  # the box's left edge
        assert red[0] > 200 and red[1] < 120 and red[2] < 120, red
        grey = pixel(page, f"{tile} canvas", 0.1, 0.9)  # plain picture
        assert abs(grey[0] - grey[1]) < 10, grey
        shot(page, "en-07-live-grid")
        page.click(f"{tile} a.frame-link")
        page.wait_for_selector("#live-detections li")
        assert page.locator("#live-detections").inner_text() == "fire 87%"
        assert page.locator("#live-exits").inner_text() == "exit-1: blocked 42%"
        frames = int(page.locator(".camera.large").get_attribute("data-frames") or 0)
        live_result(node, 2)  # a new frame arrives: the picture follows
        page.wait_for_function(
            f"() => Number(document.querySelector('.camera.large').dataset.frames) > {frames}"
        )
        assert page.locator(".camera.large").get_attribute("data-frame-index") == "2"
        shot(page, "en-08-live-camera")
    assert errors == []


def click_at(page: Page, selector: str, points: list[tuple[float, float]]) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None
    for x, y in points:
        page.mouse.click(box["x"] + box["width"] * x, box["y"] + box["height"] * y)


def test_an_admin_draws_and_saves_a_zone_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.frames.show(1)
    path = zone_file_path(node.config.storage.data_dir, "dock")
    errors: list[str] = []
    with serve(node.app) as base, chromium() as browser:
        page = browser.new_page(locale="zh-CN", viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, base, "admin", "#/zones/dock")
        page.wait_for_selector('#zone-list li[data-zone="exit-1"]')
        # A bow tie: its edges cross. The API refuses it; the reason shows in Chinese.
        page.click("#zone-new")
        click_at(page, "#zone-canvas", [(0.1, 0.1), (0.4, 0.4), (0.4, 0.1), (0.1, 0.4)])
        page.click("#zone-finish")
        page.click("#zone-save")
        message = page.locator("#zone-message")
        page.wait_for_function("() => document.getElementById('zone-message').dataset.code")
        assert message.get_attribute("data-code") == "zone_self_intersecting"
        assert "第 0 条边与第 2 条边相交" in message.inner_text()
        assert not path.exists()
        shot(page, "zh-09-zone-refused")
        # Reloaded, then a proper polygon, kind "ignore": saved, version 1.
        page.click("#zone-reload")
        page.wait_for_function("() => document.querySelectorAll('#zone-list li').length === 1")
        page.click("#zone-new")
        click_at(page, "#zone-canvas", [(0.1, 0.5), (0.35, 0.5), (0.35, 0.9), (0.1, 0.9)])
        page.click("#zone-finish")
        page.select_option("#zone-kind", "ignore")
        page.fill("#zone-name", "racks")
        page.click("#zone-save")
        page.wait_for_function(
            "() => document.querySelector('.zones-view').dataset.version === '1'"
        )
        assert "已保存\uff1a第 1 版" in message.inner_text()  # a Chinese colon
        shot(page, "zh-10-zone-saved")
        page.click("#reference-capture")
        page.wait_for_function(
            "() => document.getElementById('zone-message').textContent.includes('参考图已于')"
        )
    saved = yaml.safe_load(path.read_text())
    assert saved["version"] == 1 and saved["updated_by"] == "admin-holder"
    racks = next(z for z in saved["zones"] if z["name"] == "racks")
    assert racks["kind"] == "ignore" and len(racks["points"]) == 4
    assert racks["points"][0] == pytest.approx([0.1, 0.5], abs=0.01)
    assert node.editor.current("dock").version == 1
    assert errors == []


def test_the_duty_desk_acknowledges_by_key_notifies_mutes_and_prints_the_handover(
    tmp_path: Path,
) -> None:
    node = Node(tmp_path)
    older = observe(node, Hazard.BLOCKED_EXIT, "exit-1", Severity.WARNING, ago_s=900)
    critical = observe(node, Hazard.FLAME, "frame", Severity.CRITICAL, ago_s=60)
    errors: list[str] = []
    with serve(node.app) as base, chromium() as browser:
        context = browser.new_context(locale="en-GB", viewport={"width": 1600, "height": 1000})
        context.add_init_script(f"({RECORDER})()")
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, base, "operator", "#/duty")
        page.wait_for_function("() => document.querySelectorAll('#duty li').length === 2")
        first = page.locator("#duty li").first
        assert first.get_attribute("data-alert-id") == critical  # critical first
        assert "waiting 1 min" in first.inner_text()
        assert "selected" in (first.get_attribute("class") or "")
        page.keyboard.press("a")  # acknowledge the selected one
        row = f"document.querySelector('[data-alert-id=\"{critical}\"]')"
        page.wait_for_function(f"() => {row}?.dataset.state === 'acknowledged'")
        assert node.ledger.alert(critical).workflow_state == "acknowledged"  # type: ignore[union-attr]
        assert page.locator("#duty li").first.get_attribute("data-alert-id") == older
        shot(page, "en-11-duty")
        # A new critical alert: sound and a notification; muted (M), the next one is silent.
        fresh = observe(node, Hazard.FLAME, "bay-2", Severity.CRITICAL)
        page.wait_for_function("() => window.notified.length === 1")
        assert page.evaluate("() => window.notified[0].tag") == fresh
        assert page.evaluate("() => window.alarms") > 0
        page.keyboard.press("m")
        assert page.locator("#duty-mute").get_attribute("aria-pressed") == "true"
        observe(node, Hazard.FLAME, "bay-3", Severity.CRITICAL)
        page.wait_for_function("() => document.querySelectorAll('#duty li').length === 4")
        assert page.evaluate("() => window.notified.length") == 1
        page.reload()  # the mute sticks for this user
        page.wait_for_selector("#duty-mute[aria-pressed='true']")
        # The handover: in, open, who did what; printable.
        page.evaluate("() => { location.hash = '#/handover'; }")
        page.wait_for_selector("#handover-actions")
        assert page.locator("#handover-came-in").inner_text() == "Came in: 4 alerts"
        actions = page.locator("tr[data-action='acknowledge']")
        assert actions.count() == 1 and "operator-holder" in actions.inner_text()
        shot(page, "en-12-handover")
        page.emulate_media(media="print")
        assert page.locator(".top").is_hidden() and page.locator("#handover-print").is_hidden()
        assert page.locator("#handover-open").is_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(ARTIFACTS / "handover.pdf"))
    assert errors == []
