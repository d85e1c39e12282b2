// An alert's past: its event history (detected, updates, end, clip parts, case actions) and,
// for the roles that may read it, the audit trail with the dossier download.

import { describeError, getJson, request } from "./api.js";
import { h, percent, severityLabel, stateLabel, when } from "./dom.js";
import { currentLanguage, t, word } from "./i18n.js";

const SEPARATOR = " · ";
const HISTORY_COLUMNS = ["when", "event", "what"];
const AUDIT_COLUMNS = ["seq", "when", "who", "action", "detail", "hash"];
const AUDIT_LIMIT = 5000;
const DOSSIER_URL_MS = 60_000;

function describeEvent(event) {
  const after = event.after ?? {};
  if (event.type === "state" && event.case) {
    const c = event.case;
    const bits = [t("history.caseAction", { actor: c.actor, action: word("action", c.action) })];
    if (c.from !== c.to) bits.push(t("history.moved", { from: stateLabel(c.from), to: stateLabel(c.to) }));
    if (c.action === "assign") bits.push(t("history.assignedTo", { owner: c.owner, deadline: when(c.deadline) }));
    if (c.note) bits.push(t("history.quoted", { note: c.note }));
    if (c.photos?.length) bits.push(t("history.photos", { names: c.photos.join(", ") }));
    return bits.join(SEPARATOR);
  }
  if (event.type === "new") return t("history.detected", { severity: severityLabel(after.severity), score: percent(after.score) });
  if (event.type === "update") return t("history.update", { score: percent(after.score), peak: percent(after.peak_score) });
  if (event.type === "end") return t("history.ended");
  if (event.type === "clip_ready") return t("history.clipReady", { part: after.clip?.part ?? "" });
  return word("event", event.type);
}

function describeAudit(entry) {
  const d = entry.detail ?? {};
  const bits = [];
  if (d.from && d.to) {
    bits.push(d.from === d.to ? stateLabel(d.from) : t("history.moved", { from: stateLabel(d.from), to: stateLabel(d.to) }));
  }
  if (d.owner) bits.push(t("history.owner", { owner: d.owner }));
  if (d.note) bits.push(t("history.quoted", { note: d.note }));
  if (d.name) bits.push(d.name);
  if (d.kind && !d.name) bits.push(word("evidence", d.kind));
  if (d.camera && d.version !== undefined) bits.push(t("history.zonesVersion", { camera: d.camera, version: d.version }));
  return bits.join(SEPARATOR);
}

const head = (columns) => h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, t(`history.column.${c}`)))));

/** The event history table: ``node``, ``render(events)``. */
export function historyPanel() {
  const rows = h("tbody");
  const node = h(
    "section",
    { class: "history" },
    h("h2", {}, t("history.title")),
    h("table", {}, head(HISTORY_COLUMNS), rows),
  );
  return {
    node,
    render(events) {
      rows.replaceChildren(
        ...events.map((e) =>
          h(
            "tr",
            { class: `event-${e.type}` },
            h("td", {}, when(e.created_at)),
            h("td", {}, word("event", e.type)),
            h("td", {}, describeEvent(e)),
          ),
        ),
      );
    },
  };
}

/** The audit trail of the alert ``alertId`` (at ``base``) and its dossier button: ``node``,
 * ``refresh()``. A failed download is told with ``report(kind, text)``. */
export function auditPanel({ alertId, base, signal, report }) {
  const rows = h("tbody");
  const node = h(
    "section",
    { class: "audit" },
    h(
      "h2",
      {},
      t("history.auditTitle"),
      " ",
      h("button", { type: "button", class: "quiet", id: "dossier", onclick: downloadDossier }, t("history.dossier")),
    ),
    h("table", {}, head(AUDIT_COLUMNS), rows),
  );

  async function refresh() {
    try {
      const query = `alert_id=${encodeURIComponent(alertId)}&limit=${AUDIT_LIMIT}`;
      const entries = await getJson(`/api/audit?${query}`, { signal });
      rows.replaceChildren(
        ...entries.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, e.seq),
            h("td", {}, when(e.at)),
            h("td", {}, e.actor),
            h("td", { dataset: { action: e.action } }, word("audit", e.action)),
            h("td", {}, describeAudit(e)),
            h("td", { class: "hash", title: e.hash }, e.hash.slice(0, 12)),
          ),
        ),
      );
    } catch (error) {
      if (signal.aborted) return;
      rows.replaceChildren(h("tr", {}, h("td", { colspan: 6 }, t("history.auditFailed", { reason: describeError(error) }))));
    }
  }

  async function downloadDossier() {
    try {
      const response = await request(`${base}/dossier?lang=${encodeURIComponent(currentLanguage())}`);
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: `sitewatch-${alertId}.zip` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), DOSSIER_URL_MS);
      refresh();
    } catch (error) {
      report("error", t("history.dossierFailed", { reason: describeError(error) }));
    }
  }

  return { node, refresh };
}
