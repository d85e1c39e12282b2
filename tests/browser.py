"""Debian's headless Chromium for the tests: how it is started and how a test waits for a
``<video>`` to play, with the media element's whole state in the failure message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    # A loaded two-core CI machine must not make Chromium throttle or pause the page's media.
    "--disable-background-media-suspend",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
]

MEDIA_STATE = """(id) => {
  const v = document.getElementById(id);
  if (v === null) return null;
  const ranges = [];
  for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
  return {readyState: v.readyState, networkState: v.networkState, paused: v.paused,
          currentTime: v.currentTime, duration: v.duration, width: v.videoWidth,
          error: v.error === null ? null : [v.error.code, v.error.message], buffered: ranges,
          src: v.currentSrc};
}"""


def launch(driver: Playwright) -> Browser:
    """Debian's Chromium, headless."""
    return driver.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def media_state(page: Page, element_id: str) -> dict[str, Any] | None:
    """The state of the page's ``<video id=element_id>`` (None when there is none)."""
    state: dict[str, Any] | None = page.evaluate(MEDIA_STATE, element_id)
    return state


def wait_until_playing(
    page: Page, element_id: str, past_s: float, timeout_ms: float = 45_000
) -> dict[str, Any]:
    """Wait until the video has data, start it if autoplay did not, and wait until its playhead
    is past ``past_s``; returns its state. Fails with the element's state and the page's console
    when the clip does not load or does not play."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        page.wait_for_function(
            "(id) => { const v = document.getElementById(id);"
            " return v !== null && (v.readyState >= 2 || v.error !== null); }",
            arg=element_id,
            timeout=timeout_ms,
        )
        page.evaluate(
            "(id) => { const v = document.getElementById(id);"
            " if (v.paused && v.error === null) return v.play().catch(e => String(e)); }",
            element_id,
        )
        page.wait_for_function(
            "([id, past]) => { const v = document.getElementById(id);"
            " return v.error !== null || (v.readyState >= 3 && v.currentTime > past); }",
            arg=[element_id, past_s],
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        state = media_state(page, element_id)
        raise AssertionError(f"#{element_id} did not play: {state}; console: {console}") from None
    state = media_state(page, element_id)
    assert state is not None and state["error"] is None, f"#{element_id} failed: {state}"
    return state
