// Alerts across the sites of the scope (GET /api/alerts), filtered by grid, site, hazard,
// workflow state and the supervised list; the filters live in the address (#/alerts?grid=…)
// and the list is read again every few seconds.

import { describeError, getJson } from "./api.js";
import { ago, h, hazardLabel, say, severityLabel, stateLabel, when, zoneName } from "./dom.js";
import { t } from "./i18n.js";

const REFRESH_MS = 5000;
const FILTERS = ["grid", "site", "hazard", "state", "supervised"];

function choice(name, label, options, value, onChange) {
  const field = h(
    "select",
    { id: `filter-${name}`, name, onchange: onChange },
    h("option", { value: "" }, t("fleet.all")),
    options.map(([key, text]) => h("option", { value: key, selected: key === value }, text)),
  );
  return h("label", { class: "filter" }, h("span", {}, label), field);
}

/** The sites a grid filter leaves (all of the scope without one). */
export function sitesOf(context, grid) {
  return context.sites.filter((s) => !grid || s.grid === grid);
}

export function mountAlerts(view, context, params) {
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""]));
  const gridName = new Map(context.grids.map((g) => [g.grid, g.name]));
  const siteName = new Map(context.sites.map((s) => [s.site, s.name]));
  if (filters.site && !sitesOf(context, filters.grid).some((s) => s.site === filters.site)) filters.site = "";
  let timer = null;
  let stopped = false;

  function apply() {
    for (const name of FILTERS) filters[name] = view.querySelector(`#filter-${name}`).value;
    if (filters.site && !sitesOf(context, filters.grid).some((s) => s.site === filters.site)) filters.site = "";
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
    location.hash = query ? `#/alerts?${query}` : "#/alerts";
  }

  const bar = h(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault() },
    choice("grid", t("fleet.grid"), context.grids.map((g) => [g.grid, g.name]), filters.grid, apply),
    choice("site", t("fleet.site"), sitesOf(context, filters.grid).map((s) => [s.site, s.name]), filters.site, apply),
    choice("hazard", t("fleet.hazard"), context.words.hazards.map((z) => [z, hazardLabel(z)]), filters.hazard, apply),
    choice("state", t("fleet.state"), context.words.states.map((z) => [z, stateLabel(z)]), filters.state, apply),
    choice("supervised", t("fleet.supervised"), [["true", t("fleet.listed")], ["false", t("fleet.notListed")]], filters.supervised, apply),
  );
  const summary = h("p", { class: "summary", id: "fleet-summary" }, t("fleet.loading"));
  const message = h("p", { class: "message", role: "alert", hidden: true });
  const body = h("tbody", { id: "fleet-rows" });
  const columns = ["site", "grid", "camera", "zone", "hazard", "severity", "started", "state", "owner", "deadline", "listing"];
  const table = h(
    "table",
    { class: "fleet-table", id: "fleet-table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(`fleet.columns.${c}`))))),
    body,
  );
  view.append(h("section", { class: "fleet-view" }, h("h1", {}, t("fleet.title")), bar, summary, message, table));

  function row(alert) {
    const listing = alert.supervised
      ? t("fleet.supervisedBy", { name: alert.supervisor, deadline: when(alert.supervised_deadline) })
      : alert.supervised_closed_at
        ? t("fleet.closedOut", { when: when(alert.supervised_closed_at) })
        : "";
    const pending = alert.pending_commands > 0 ? t("fleet.pending", { count: alert.pending_commands }) : "";
    return h(
      "tr",
      { class: alert.severity === "critical" ? "critical" : null, dataset: { alertId: alert.alert_id, site: alert.site } },
      h("td", { class: "site" }, siteName.get(alert.site) ?? alert.site),
      h("td", {}, gridName.get(alert.grid) ?? alert.grid),
      h("td", {}, alert.camera),
      h("td", {}, zoneName(alert.zone)),
      h("td", { class: "hazard" }, h("a", { href: `#/alerts/${encodeURIComponent(alert.alert_id)}`, class: "open-alert" }, hazardLabel(alert.hazard))),
      h("td", {}, severityLabel(alert.severity)),
      h("td", { title: ago(alert.started_at) }, when(alert.started_at)),
      h("td", {}, h("span", { class: `badge state-${alert.workflow_state}` }, stateLabel(alert.workflow_state)), pending ? h("div", { class: "muted" }, pending) : null),
      h("td", {}, alert.owner ?? ""),
      h("td", {}, alert.deadline ? when(alert.deadline) : ""),
      h("td", {}, listing),
    );
  }

  async function load() {
    const query = new URLSearchParams({ limit: "500" });
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    try {
      const alerts = await getJson(`/api/alerts?${query}`);
      if (stopped) return;
      body.replaceChildren(...alerts.map(row));
      summary.textContent = alerts.length ? t("fleet.count", { count: alerts.length }) : t("fleet.none");
      say(message, "error", "");
    } catch (error) {
      if (!stopped) say(message, "error", t("fleet.failed", { reason: describeError(error) }));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
