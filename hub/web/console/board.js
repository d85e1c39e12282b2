// The supervised list (挂牌督办) as a board (GET /api/supervised): cases past their
// deadline, cases still within it, and cases their supervisor closed out.

import { describeError, getJson } from "./api.js";
import { ago, h, hazardLabel, say, stateLabel, when } from "./dom.js";
import { t } from "./i18n.js";

const REFRESH_MS = 5000;
const COLUMNS = ["overdue", "open", "closedOut"];

function columnOf(item, now) {
  if (item.supervised_closed_at) return "closedOut";
  return Date.parse(item.supervised_deadline) < now ? "overdue" : "open";
}

export function mountBoard(view, context) {
  const siteName = new Map(context.sites.map((s) => [s.site, s.name]));
  const gridName = new Map(context.grids.map((g) => [g.grid, g.name]));
  const message = h("p", { class: "message", role: "alert", hidden: true });
  const lists = Object.fromEntries(COLUMNS.map((c) => [c, h("div", { class: "board-cards", id: `board-${c}` })]));
  const heads = Object.fromEntries(COLUMNS.map((c) => [c, h("h2", {})]));
  const board = h(
    "div",
    { class: "board", id: "board" },
    COLUMNS.map((c) => h("section", { class: "board-column", dataset: { column: c } }, heads[c], lists[c])),
  );
  view.append(h("section", { class: "board-view" }, h("h1", {}, t("board.title")), message, board));
  let timer = null;
  let stopped = false;

  function card(item, column) {
    const due = column === "closedOut"
      ? t("board.closedAt", { when: when(item.supervised_closed_at) })
      : t("board.deadline", { when: when(item.supervised_deadline) });
    return h(
      "article",
      { class: `board-card ${column === "overdue" ? "overdue" : ""}`, dataset: { alertId: item.alert_id, site: item.site } },
      h("a", { class: "hazard", href: `#/alerts/${encodeURIComponent(item.alert_id)}` }, hazardLabel(item.hazard)),
      h("span", {}, t("board.where", { site: siteName.get(item.site) ?? item.site, grid: gridName.get(item.grid) ?? item.grid, camera: item.camera })),
      h("span", {}, t("board.supervisor", { name: item.supervisor })),
      h("span", { title: ago(item.supervised_deadline) }, due),
      h("span", {}, h("span", { class: `badge state-${item.workflow_state}` }, stateLabel(item.workflow_state))),
    );
  }

  async function load() {
    try {
      const items = await getJson("/api/supervised");
      if (stopped) return;
      const now = Date.now();
      const grouped = Object.fromEntries(COLUMNS.map((c) => [c, []]));
      for (const item of items) grouped[columnOf(item, now)].push(item);
      for (const column of COLUMNS) {
        heads[column].textContent = t(`board.columns.${column}`, { count: grouped[column].length });
        lists[column].replaceChildren(
          ...(grouped[column].length
            ? grouped[column].map((item) => card(item, column))
            : [h("p", { class: "board-empty" }, t("board.empty"))]),
        );
      }
      say(message, "error", "");
    } catch (error) {
      if (!stopped) say(message, "error", t("board.failed", { reason: describeError(error) }));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
