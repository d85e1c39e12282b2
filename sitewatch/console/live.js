// One camera enlarged: the live picture at a higher rate and size, what is drawn on it (the
// detections with class and score, the zones, the exit check's blocked share) listed beside it,
// and for admins the way to its zone editor.

import { h } from "./dom.js";
import { formatPercent, t, word } from "./i18n.js";
import { watch } from "./live-stream.js";
import { liveTile } from "./live-view.js";

const FPS = 5;
const WIDTH = 1280;

export function mountLive(view, context, camera) {
  const tile = liveTile(camera, { large: true });
  const seen = h("ul", { class: "live-list", id: "live-detections", "aria-live": "off" });
  const exits = h("ul", { class: "live-list", id: "live-exits" });
  const admin = context.me.role === "admin";
  view.append(
    h(
      "section",
      { class: "live-view" },
      h("a", { href: "#/cameras", class: "back" }, t("live.back")),
      h("div", { class: "live-grid" }, tile.node, h("aside", {}, h("h2", {}, t("live.detections")), seen, h("h2", {}, t("live.exits")), exits)),
      admin ? h("p", {}, h("a", { href: `#/zones/${encodeURIComponent(camera)}`, id: "edit-zones", class: "button" }, t("live.editZones"))) : null,
    ),
  );
  const live = watch({
    cameras: [camera],
    fps: FPS,
    width: WIDTH,
    onFrame: (_name, overlay, blob) => {
      tile.show(overlay, blob);
      seen.replaceChildren(
        ...(overlay.detections ?? []).map((d) =>
          h("li", { dataset: { class: d.class } }, `${word("class", d.class)} ${formatPercent(d.score)}`),
        ),
      );
      exits.replaceChildren(
        ...(overlay.exits ?? []).map((e) =>
          h(
            "li",
            { dataset: { zone: e.zone } },
            e.blocked_fraction === null
              ? `${e.zone}: ${word("exitReason", e.reason)}`
              : `${e.zone}: ${t("live.blocked", { share: formatPercent(e.blocked_fraction) })}`,
          ),
        ),
      );
    },
  });
  return () => {
    live.stop();
    tile.close();
  };
}
