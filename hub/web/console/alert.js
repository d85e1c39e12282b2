// One alert at the centre (#/alerts/<id>): the edge console's heading, evidence and history
// panels (alert-head.js, alert-media.js, alert-history.js, served as files) over the hub's
// GET /api/alerts/<id> (evidence from the hub's own store), with the site and grid, times in
// the site's time zone, and the case box of the centre (case-box.js: actions sent as commands
// to the owning edge). Read again every few seconds, and often while a command is pending.

import { ApiError, describeError, getJson } from "./api.js";
import { headPanel } from "./alert-head.js";
import { historyPanel } from "./alert-history.js";
import { mediaPanel } from "./alert-media.js";
import { caseBox } from "./case-box.js";
import { h, say } from "./dom.js";
import { currentTimeZone, setTimeZone, t } from "./i18n.js";

const REFRESH_MS = 5000;
const PENDING_REFRESH_MS = 1000;

export function mountAlert(view, context, alertId) {
  const base = `/api/alerts/${encodeURIComponent(alertId)}`;
  const siteName = new Map(context.sites.map((s) => [s.site, s.name]));
  const gridName = new Map(context.grids.map((g) => [g.grid, g.name]));
  const browserZone = currentTimeZone();
  const abort = new AbortController();
  let timer = null;

  const loadError = h("p", { class: "message error", role: "alert", hidden: true });
  const where = h("p", { class: "meta", id: "alert-site" });
  const head = headPanel();
  const media = mediaPanel(base, abort.signal);
  const work = caseBox({ base, context, changed: () => refresh() });
  const history = historyPanel();
  view.append(
    h(
      "section",
      { class: "alert-view", dataset: { alertId } },
      h("a", { href: "#/alerts", class: "back" }, t("alert.back")),
      loadError,
      where,
      head.nodes,
      h("div", { class: "alert-grid" }, media.node, work.node),
      history.node,
    ),
  );

  async function refresh() {
    let detail = null;
    try {
      detail = await getJson(base, { signal: abort.signal });
    } catch (error) {
      if (abort.signal.aborted) return;
      const missing = error instanceof ApiError && error.status === 404;
      say(loadError, "error", missing ? t("alert.missing", { alertId }) : t("alert.failed", { reason: describeError(error) }));
    }
    if (abort.signal.aborted) return;
    if (detail !== null) {
      say(loadError, "error", "");
      setTimeZone(detail.timezone);
      where.textContent = t("hubAlert.where", {
        site: siteName.get(detail.site) ?? detail.site,
        grid: gridName.get(detail.grid) ?? detail.grid,
      });
      head.render(detail);
      media.render(detail);
      work.render(detail);
      history.render(detail.events.map((e) => e.payload));
    }
    const pending = detail?.commands.some((c) => c.status === "pending");
    clearTimeout(timer); // one timer, however many reads overlapped
    timer = setTimeout(refresh, pending ? PENDING_REFRESH_MS : REFRESH_MS);
  }

  refresh();
  return () => {
    abort.abort();
    clearTimeout(timer);
    media.close();
    setTimeZone(browserZone);
  };
}
