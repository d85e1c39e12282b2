// The camera grid, live: every camera's picture with its boxes and zones at a few frames per
// second (one stream for the whole grid, small pictures), its state and the frame's age; click
// a camera to enlarge it.

import { describeError, getJson } from "./api.js";
import { h, say } from "./dom.js";
import { t } from "./i18n.js";
import { watch } from "./live-stream.js";
import { liveTile } from "./live-view.js";

const GRID_FPS = 2;
const GRID_WIDTH = 480;

export function mountCameras(view) {
  const abort = new AbortController();
  const tiles = new Map();
  const grid = h("div", { class: "camera-grid", id: "cameras" });
  const message = h("p", { class: "message", role: "alert", hidden: true });
  view.append(h("section", {}, h("h1", {}, t("cameras.title")), message, grid));
  let live = null;

  getJson("/api/cameras", { signal: abort.signal })
    .then((cameras) => {
      say(message, "error", cameras.length ? "" : t("cameras.none"));
      for (const c of cameras) {
        const tile = liveTile(c.camera, { href: `#/cameras/${encodeURIComponent(c.camera)}` });
        tile.show({ camera: c.camera, state: c.state, error: c.last_error, frame_age_ms: c.frame_age_ms }, null);
        tiles.set(c.camera, tile);
      }
      grid.replaceChildren(...[...tiles.values()].map((tile) => tile.node));
      if (cameras.length === 0) return;
      live = watch({
        cameras: [...tiles.keys()],
        fps: GRID_FPS,
        width: GRID_WIDTH,
        onFrame: (camera, overlay, blob) => tiles.get(camera)?.show(overlay, blob),
        onStatus: (state, why) =>
          say(message, "error", state === "live" ? "" : t("cameras.reconnecting", { reason: why })),
      });
    })
    .catch((error) => {
      if (!abort.signal.aborted) say(message, "error", t("cameras.failed", { reason: describeError(error) }));
    });

  return () => {
    abort.abort();
    live?.stop();
    for (const tile of tiles.values()) tile.close();
  };
}
