// The shift handover: for a shift (default: the last 12 hours, in the site's time zone) what
// came in, what is still open and who did what to which case — one printable page (the print
// style sheet drops the controls; the browser's print dialog makes the paper or the PDF).

import { describeError, getJson } from "./api.js";
import { h, hazardLabel, say, severityLabel, stateLabel, when, zoneName } from "./dom.js";
import { formatDuration, fromSiteLocal, t, toSiteLocal, word, zoneLabel } from "./i18n.js";

const SHIFT_MS = 12 * 3600_000;

function table(columns, rows) {
  if (!rows.length) return h("p", { class: "muted" }, t("handover.none"));
  return h(
    "table",
    { class: "handover-table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, t(`handover.column.${c}`))))),
    h("tbody", {}, rows),
  );
}

export function mountHandover(view, context, params) {
  const abort = new AbortController();
  const now = new Date();
  const until = params.get("to") ? new Date(params.get("to")) : now;
  const since = params.get("from") ? new Date(params.get("from")) : new Date(until.getTime() - SHIFT_MS);
  const from = h("input", { id: "handover-from", type: "datetime-local", value: toSiteLocal(since) });
  const to = h("input", { id: "handover-to", type: "datetime-local", value: toSiteLocal(until) });
  const message = h("p", { class: "message", role: "alert", hidden: true });
  const body = h("div", { id: "handover" });
  const controls = h(
    "form",
    { class: "filters no-print", onsubmit: show },
    h("label", { class: "filter" }, h("span", {}, t("handover.from")), from),
    h("label", { class: "filter" }, h("span", {}, t("handover.to")), to),
    h("button", { type: "submit" }, t("handover.show")),
    h("button", { type: "button", id: "handover-print", class: "primary", onclick: () => window.print() }, t("handover.print")),
  );
  view.append(h("section", { class: "handover-view" }, h("h1", {}, t("handover.title")), controls, message, body));

  function show(event) {
    event.preventDefault();
    const query = new URLSearchParams({
      from: fromSiteLocal(from.value).toISOString(),
      to: fromSiteLocal(to.value).toISOString(),
    });
    location.hash = `#/handover?${query}`;
  }

  function alertRows(docs, withAge) {
    const at = Date.now();
    return docs.map((d) =>
      h(
        "tr",
        { dataset: { alertId: d.alert_id }, class: d.severity === "critical" ? "critical" : "" },
        h("td", {}, when(d.started_at)),
        h("td", {}, `${hazardLabel(d.hazard)} (${severityLabel(d.severity)})`),
        h("td", {}, `${d.camera} / ${zoneName(d.zone)}`),
        h("td", {}, stateLabel(d.workflow_state)),
        withAge ? h("td", {}, formatDuration((at - new Date(d.started_at).getTime()) / 1000)) : null,
      ),
    );
  }

  async function load() {
    const query = new URLSearchParams({ since: since.toISOString(), until: until.toISOString() });
    try {
      const doc = await getJson(`/api/handover?${query}`, { signal: abort.signal });
      const actions = doc.actions.map((a) =>
        h(
          "tr",
          { dataset: { action: a.action, alertId: a.alert_id } },
          h("td", {}, when(a.at)),
          h("td", {}, a.actor),
          h("td", {}, word("action", a.action)),
          h("td", {}, `${hazardLabel(a.hazard)} · ${a.camera} / ${zoneName(a.zone)}`),
          h("td", {}, a.from && a.to && a.from !== a.to ? `${stateLabel(a.from)} → ${stateLabel(a.to)}` : stateLabel(a.to ?? "")),
        ),
      );
      body.replaceChildren(
        h("p", { class: "summary", id: "handover-period" }, t("handover.period", { from: when(doc.since), to: when(doc.until), zone: zoneLabel() })),
        h("h2", { id: "handover-came-in" }, t("handover.cameIn", { count: doc.came_in.length })),
        table(["when", "hazard", "where", "state"], alertRows(doc.came_in, false)),
        h("h2", { id: "handover-open" }, t("handover.stillOpen", { count: doc.still_open.length })),
        table(["when", "hazard", "where", "state", "age"], alertRows(doc.still_open, true)),
        h("h2", { id: "handover-actions" }, t("handover.actions", { count: doc.actions.length })),
        table(["when", "who", "action", "where", "move"], actions),
        ...(doc.truncated ? [h("p", { class: "muted" }, t("handover.truncated"))] : []),
        h("p", { class: "muted printed" }, t("handover.printedBy", { name: context.me.name, at: when(Date.now() / 1000) })),
      );
      say(message, "error", "");
    } catch (error) {
      if (!abort.signal.aborted) say(message, "error", t("handover.failed", { reason: describeError(error) }));
    }
  }

  load();
  return () => abort.abort();
}
