// One camera tile of the live view: the picture with what the detector and the rules see,
// its state and the age of the frame, redrawn as the live stream's parts arrive (only the
// newest picture is decoded when parts arrive faster than they can be drawn).

import { h } from "./dom.js";
import { formatNumber, t, word } from "./i18n.js";
import { drawLive } from "./live-stream.js";

/** A tile for ``name``: ``node``, ``show(overlay, blob | null)``, ``overlay`` (the last one). */
export function liveTile(name, { href = null, large = false } = {}) {
  const canvas = h("canvas", { class: "live-canvas", width: 640, height: 360, "aria-label": t("live.pictureOf", { camera: name }) });
  const state = h("span", { class: "badge" });
  const age = h("span", { class: "frame-age muted" });
  const problem = h("p", { class: "camera-error" });
  const placeholder = h("p", { class: "no-frame" }, t("live.noFrame"));
  const picture = h("div", { class: "frame-box" }, canvas, placeholder);
  const title = href ? h("a", { href }, name) : name;
  const node = h(
    "article",
    { class: `camera${large ? " large" : ""}`, dataset: { camera: name, frames: "0" } },
    h("header", {}, h("h2", {}, title), state, age),
    href ? h("a", { href, class: "frame-link", "aria-label": t("live.enlarge", { camera: name }) }, picture) : picture,
    problem,
  );
  canvas.hidden = true;
  let busy = false;
  let waiting = null;
  const tile = { node, canvas, overlay: null, bitmap: null };

  function label(overlay) {
    state.textContent = word("cameraState", overlay.state);
    state.className = `badge camera-${overlay.state}`;
    node.dataset.state = overlay.state;
    problem.textContent = overlay.error ?? ""; // the reader's own words (English, from the stream)
    age.textContent =
      overlay.frame_age_ms === null || overlay.frame_age_ms === undefined
        ? ""
        : t("live.frameAge", { age: formatNumber(overlay.frame_age_ms / 1000, { maximumFractionDigits: 1 }) });
  }

  async function draw(overlay, blob) {
    busy = true;
    try {
      if (blob) {
        const bitmap = await createImageBitmap(blob);
        tile.bitmap?.close();
        tile.bitmap = bitmap;
        canvas.hidden = false;
        placeholder.hidden = true;
      }
      if (tile.bitmap) drawLive(canvas, tile.bitmap, overlay);
      node.dataset.frames = String(Number(node.dataset.frames) + (blob ? 1 : 0));
      node.dataset.boxes = String((overlay.detections ?? []).length);
      node.dataset.frameIndex = String(overlay.frame_index ?? "");
    } catch (error) {
      console.warn("live picture", name, error);
    } finally {
      busy = false;
    }
    if (waiting) {
      const next = waiting;
      waiting = null;
      draw(next.overlay, next.blob);
    }
  }

  tile.show = (overlay, blob) => {
    tile.overlay = overlay;
    label(overlay);
    if (busy) {
      waiting = { overlay, blob: blob ?? waiting?.blob ?? null };
      return;
    }
    draw(overlay, blob);
  };
  tile.redraw = () => {
    if (tile.bitmap && tile.overlay) drawLive(canvas, tile.bitmap, tile.overlay);
  };
  tile.close = () => tile.bitmap?.close();
  return tile;
}
