// Alerts per hazard per day over the last 14 days (GET /api/stats/daily), as stacked bars in
// inline SVG with a legend and the figures as a table.

import { describeError, getJson } from "./api.js";
import { h, hazardLabel, s, say } from "./dom.js";
import { offsetMinutes, t, weekday } from "./i18n.js";

const DAYS = 14;
const COLOURS = { flame: "#ff453a", blocked_exit: "#ffb020", missing_hardhat: "#3ea6ff" };
const SPARE = ["#bf5af2", "#30d158", "#ff9f0a", "#64d2ff"];
const WIDTH = 1200;
const HEIGHT = 460;
const MARGIN = { top: 30, right: 20, bottom: 60, left: 60 };

function colourOf(hazard, index) {
  return COLOURS[hazard] ?? SPARE[index % SPARE.length];
}

function niceMax(value) {
  if (value <= 5) return 5;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function dayLabel(iso) {
  const [, month, day] = iso.split("-");
  return [weekday(iso), t("chart.day", { month, day })];
}

/** The stacked bar chart of ``stats`` as an <svg>. */
export function barChart(stats) {
  const { days, hazards, counts } = stats;
  const totals = days.map((_, i) => hazards.reduce((sum, hz) => sum + counts[hz][i], 0));
  const top = niceMax(Math.max(0, ...totals));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = plotW / days.length;
  const barW = slot * 0.7;
  const y = (v) => MARGIN.top + plotH - (v / top) * plotH;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    id: "chart",
    role: "img",
    "aria-label": t("chart.label", { count: days.length }),
  });
  const ticks = 5;
  for (let i = 0; i <= ticks; i += 1) {
    const value = (top / ticks) * i;
    svg.append(
      s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value), class: "grid" }),
      s(
        "text",
        { x: MARGIN.left - 10, y: y(value) + 6, class: "axis", "text-anchor": "end" },
        Number.isInteger(value) ? value : value.toFixed(1),
      ),
    );
  }
  days.forEach((day, i) => {
    const x = MARGIN.left + slot * i + (slot - barW) / 2;
    let stacked = 0;
    hazards.forEach((hazard, k) => {
      const count = counts[hazard][i];
      if (count === 0) return;
      svg.append(
        s(
          "rect",
          {
            x,
            y: y(stacked + count),
            width: barW,
            height: y(stacked) - y(stacked + count),
            fill: colourOf(hazard, k),
            class: "bar",
            dataset: { day, hazard, count },
          },
          s("title", {}, t("chart.bar", { day, count, hazard: hazardLabel(hazard) })),
        ),
      );
      stacked += count;
    });
    const [weekday, date] = dayLabel(day);
    const centre = x + barW / 2;
    svg.append(
      s("text", { x: centre, y: HEIGHT - MARGIN.bottom + 24, class: "axis", "text-anchor": "middle" }, weekday),
      s("text", { x: centre, y: HEIGHT - MARGIN.bottom + 48, class: "axis", "text-anchor": "middle" }, date),
    );
    if (totals[i] > 0) {
      svg.append(s("text", { x: centre, y: y(totals[i]) - 8, class: "total", "text-anchor": "middle" }, totals[i]));
    }
  });
  return svg;
}

function legend(stats) {
  return h(
    "ul",
    { class: "legend", id: "legend" },
    stats.hazards.map((hazard, k) => {
      const total = stats.counts[hazard].reduce((a, b) => a + b, 0);
      const swatch = s(
        "svg",
        { viewBox: "0 0 10 10", class: "swatch", "aria-hidden": "true" },
        s("rect", { width: 10, height: 10, fill: colourOf(hazard, k) }),
      );
      return h("li", { dataset: { hazard } }, swatch, t("chart.legend", { hazard: hazardLabel(hazard), count: total }));
    }),
  );
}

function table(stats) {
  return h(
    "table",
    { class: "figures" },
    h("thead", {}, h("tr", {}, h("th", {}, t("chart.hazard")), stats.days.map((d) => h("th", {}, dayLabel(d)[1])))),
    h(
      "tbody",
      {},
      stats.hazards.map((hazard) =>
        h(
          "tr",
          {},
          h("th", {}, hazardLabel(hazard)),
          stats.counts[hazard].map((n) => h("td", {}, n || "")),
        ),
      ),
    ),
  );
}

export function mountChart(view, context) {
  const abort = new AbortController();
  const box = h("div", { class: "chart-box" });
  const message = h("p", { class: "message", role: "alert", hidden: true });
  const summary = h("p", { class: "summary" });
  view.append(h("section", {}, h("h1", {}, t("chart.title", { count: DAYS })), summary, message, box));
  let timer = null;

  async function load() {
    const offset = offsetMinutes(Date.now()); // days of the site, not of the browser
    try {
      const stats = await getJson(`/api/stats/daily?days=${DAYS}&utc_offset_min=${offset}`, { signal: abort.signal });
      say(message, "error", "");
      summary.textContent = t("chart.summary", { count: stats.total, from: stats.days[0], to: stats.days.at(-1) });
      box.replaceChildren(barChart(stats), legend(stats), table(stats));
    } catch (error) {
      if (!abort.signal.aborted) say(message, "error", t("chart.failed", { reason: describeError(error) }));
    }
  }

  const unsubscribe = context.stream.subscribe((m) => {
    if (m.kind === "event" && m.payload.type === "new") {
      clearTimeout(timer);
      timer = setTimeout(load, 500);
    }
  });
  const every = setInterval(load, 60_000);
  load();
  return () => {
    abort.abort();
    unsubscribe();
    clearTimeout(timer);
    clearInterval(every);
  };
}
