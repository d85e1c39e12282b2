// Per-grid charts: for each grid of the scope, this month's hazards by kind (GET
// /api/summary) and each site's open cases (GET /api/sites), as bars in inline SVG with the
// figures beside them; the month can be chosen.

import { describeError, getJson } from "./api.js";
import { h, hazardLabel, s, say } from "./dom.js";
import { currentLanguage, formatNumber, t } from "./i18n.js";

const WIDTH = 640;
const ROW = 34;
const LABEL = 220;
const MONTHS = 12; // the months the picker offers, this one first

/** The last ``MONTHS`` months as [YYYY-MM, its name in the current language]. */
function recentMonths(now = new Date()) {
  const name = new Intl.DateTimeFormat(currentLanguage(), { year: "numeric", month: "long", timeZone: "UTC" });
  const months = [];
  for (let back = 0; back < MONTHS; back += 1) {
    const first = new Date(Date.UTC(now.getFullYear(), now.getMonth() - back, 1, 12));
    const value = `${first.getUTCFullYear()}-${String(first.getUTCMonth() + 1).padStart(2, "0")}`;
    months.push([value, name.format(first)]);
  }
  return months;
}

/** Horizontal bars of ``items`` ([{label, value, kind}]) as an <svg>. */
export function bars(items, label) {
  const top = Math.max(1, ...items.map((i) => i.value));
  const height = ROW * items.length + 10;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": label });
  items.forEach((item, index) => {
    const y = 5 + ROW * index;
    const width = ((WIDTH - LABEL - 60) * item.value) / top;
    svg.append(
      s("text", { x: LABEL - 10, y: y + 21, "text-anchor": "end" }, item.label),
      s("rect", { x: LABEL, y: y + 4, width: Math.max(width, 1), height: ROW - 10, class: `bar ${item.kind}` }),
      s("text", { x: LABEL + width + 8, y: y + 21 }, formatNumber(item.value)),
    );
  });
  return svg;
}

export function mountCharts(view, context, params) {
  const months = recentMonths();
  const wanted = params.get("month");
  const month = months.some(([value]) => value === wanted) ? wanted : months[0][0];
  const message = h("p", { class: "message", role: "alert", hidden: true });
  const picker = h(
    "select",
    { id: "chart-month", onchange: () => { location.hash = `#/charts?month=${picker.value}`; } },
    months.map(([value, label]) => h("option", { value, selected: value === month }, label)),
  );
  const figures = h("p", { class: "summary", id: "charts-summary" });
  const charts = h("div", { class: "grid-charts", id: "grid-charts" });
  view.append(
    h(
      "section",
      { class: "charts-view" },
      h("h1", {}, t("charts.title")),
      h("label", { class: "filter" }, h("span", {}, t("charts.month")), picker),
      figures,
      message,
      charts,
    ),
  );
  let stopped = false;

  async function load() {
    try {
      const [summary, sites] = await Promise.all([getJson(`/api/summary?month=${month}`), getJson("/api/sites")]);
      if (stopped) return;
      const median = summary.median_close_h === null
        ? t("charts.noMedian")
        : t("charts.median", { hours: formatNumber(summary.median_close_h, { maximumFractionDigits: 1 }) });
      figures.textContent = `${t("charts.figures", { count: summary.total, overdue: summary.overdue })} ${median}`;
      charts.replaceChildren(
        ...context.grids.map((grid) => {
          const counts = new Map(summary.by_hazard_grid.filter((c) => c.grid === grid.grid).map((c) => [c.hazard, c.count]));
          const hazards = context.words.hazards.map((z) => ({ label: hazardLabel(z), value: counts.get(z) ?? 0, kind: z }));
          const open = sites
            .filter((site) => site.grid === grid.grid)
            .map((site) => ({ label: site.name, value: site.open_cases, kind: "open" }));
          return h(
            "article",
            { class: "grid-chart", dataset: { grid: grid.grid } },
            h("h2", {}, grid.name),
            h("p", { class: "muted" }, t("charts.gridFigures", { count: summary.by_grid[grid.grid] ?? 0, supervisor: grid.supervisor })),
            h("h3", {}, t("charts.byHazard")),
            bars(hazards, t("charts.byHazardLabel", { grid: grid.name })),
            h("h3", {}, t("charts.openCases")),
            bars(open, t("charts.openCasesLabel", { grid: grid.name })),
          );
        }),
      );
      say(message, "error", "");
    } catch (error) {
      if (!stopped) say(message, "error", t("charts.failed", { reason: describeError(error) }));
    }
  }

  load();
  return () => {
    stopped = true;
  };
}
