// The camera grid: each camera's state and counters, and its latest frame (fetched with the
// token into a blob: URL, refreshed every few seconds while the tab is visible).

import { ApiError, blobUrl, getJson } from "./api.js";
import { h, say } from "./dom.js";

const STATUS_MS = 5000;
const FRAME_MS = 3000;

function figures(c) {
  const size = c.width && c.height ? `${c.width}×${c.height}` : null;
  const age = c.frame_age_ms === null ? null : `${(c.frame_age_ms / 1000).toFixed(1)} s old`;
  return [
    [size, c.codec].filter(Boolean).join(" "),
    `${c.frames_out} frames`,
    c.dropped ? `${c.dropped} dropped` : null,
    c.reconnects ? `${c.reconnects} reconnects` : null,
    age,
  ].filter(Boolean).join(" · ");
}

export function mountCameras(view, context) {
  const abort = new AbortController();
  const cards = new Map(); // camera -> {node, img, state, info, error, url, busy}
  const grid = h("div", { class: "camera-grid", id: "cameras" });
  const message = h("p", { class: "message", role: "alert", hidden: true });
  view.append(h("section", {}, h("h1", {}, "Cameras"), message, grid));

  function card(name) {
    const img = h("img", { alt: `latest frame of ${name}`, class: "frame" });
    const parts = {
      img,
      state: h("span", { class: "badge" }),
      info: h("p", { class: "muted" }),
      error: h("p", { class: "camera-error" }),
      placeholder: h("p", { class: "no-frame" }, "no frame yet"),
      url: null,
      busy: false,
    };
    parts.node = h(
      "article",
      { class: "camera", dataset: { camera: name } },
      h("header", {}, h("h2", {}, name), parts.state),
      h("div", { class: "frame-box" }, img, parts.placeholder),
      parts.info,
      parts.error,
    );
    return parts;
  }

  async function statuses() {
    try {
      const cameras = await getJson("/api/cameras", { signal: abort.signal });
      say(message, "error", cameras.length ? "" : "No camera is configured.");
      const nodes = cameras.map((c) => {
        const entry = cards.get(c.camera) ?? card(c.camera);
        cards.set(c.camera, entry);
        entry.state.textContent = c.state;
        entry.state.className = `badge camera-${c.state}`;
        entry.node.dataset.state = c.state;
        entry.info.textContent = figures(c);
        entry.error.textContent = c.last_error ?? "";
        return entry.node;
      });
      grid.replaceChildren(...nodes);
    } catch (error) {
      if (!abort.signal.aborted) say(message, "error", `Cannot read the cameras: ${error.message}`);
    }
  }

  async function frame(name, entry) {
    if (entry.busy) return;
    entry.busy = true;
    try {
      const url = await blobUrl(`/api/cameras/${encodeURIComponent(name)}/frame`, abort.signal);
      const old = entry.url;
      entry.url = url;
      entry.img.src = url;
      entry.placeholder.hidden = true;
      entry.img.hidden = false;
      if (old) URL.revokeObjectURL(old);
    } catch (error) {
      if (abort.signal.aborted) return;
      entry.placeholder.hidden = false;
      entry.img.hidden = entry.url === null;
      entry.placeholder.textContent =
        error instanceof ApiError && error.status === 404 ? "no frame yet" : `frame: ${error.message}`;
    } finally {
      entry.busy = false;
    }
  }

  function frames() {
    if (document.hidden) return;
    for (const [name, entry] of cards) frame(name, entry);
  }

  statuses().then(frames);
  const timers = [setInterval(statuses, STATUS_MS), setInterval(frames, FRAME_MS)];
  return () => {
    abort.abort();
    timers.forEach(clearInterval);
    for (const entry of cards.values()) if (entry.url) URL.revokeObjectURL(entry.url);
  };
}
