// An alert's past: its event history (detected, updates, end, clip parts, case actions) and,
// for the roles that may read it, the audit trail with the dossier download.

import { getJson, request } from "./api.js";
import { h, percent, stateLabel, when } from "./dom.js";

const TEXT = {
  historyTitle: "History",
  historyColumns: ["When", "Event", "What"],
  auditTitle: "Audit trail ",
  auditColumns: ["#", "When", "Who", "Action", "Detail", "Hash"],
  dossier: "Download dossier",
  caseAction: (actor, action) => `${actor}: ${action}`,
  assignedTo: (owner, deadline) => `to ${owner}, due ${deadline}`,
  quoted: (note) => `“${note}”`,
  photos: (names) => `photos: ${names}`,
  detected: (severity, score) => `Detected (${severity}, score ${score})`,
  update: (score, peak) => `Update: score ${score}, peak ${peak}`,
  ended: "The hazard is no longer detected",
  clipReady: (part) => `Clip part ${part} ready`,
  owner: (owner) => `owner ${owner}`,
  auditFailed: (why) => `Cannot read the audit trail: ${why}`,
  dossierFailed: (why) => `Dossier: ${why}`,
};
const SEPARATOR = " · ";
const AUDIT_LIMIT = 5000;
const DOSSIER_URL_MS = 60_000;

function describeEvent(event) {
  const after = event.after ?? {};
  if (event.type === "state" && event.case) {
    const c = event.case;
    const bits = [TEXT.caseAction(c.actor, c.action.replaceAll("_", " "))];
    if (c.from !== c.to) bits.push(`${stateLabel(c.from)} → ${stateLabel(c.to)}`);
    if (c.action === "assign") bits.push(TEXT.assignedTo(c.owner, when(c.deadline)));
    if (c.note) bits.push(TEXT.quoted(c.note));
    if (c.photos?.length) bits.push(TEXT.photos(c.photos.join(", ")));
    return bits.join(SEPARATOR);
  }
  if (event.type === "new") return TEXT.detected(after.severity, percent(after.score));
  if (event.type === "update") return TEXT.update(percent(after.score), percent(after.peak_score));
  if (event.type === "end") return TEXT.ended;
  if (event.type === "clip_ready") return TEXT.clipReady(after.clip?.part ?? "");
  return event.type;
}

function describeAudit(entry) {
  const d = entry.detail ?? {};
  const bits = [];
  if (d.from && d.to) bits.push(d.from === d.to ? d.from : `${d.from} → ${d.to}`);
  if (d.owner) bits.push(TEXT.owner(d.owner));
  if (d.note) bits.push(TEXT.quoted(d.note));
  if (d.name) bits.push(d.name);
  if (d.kind && !d.name) bits.push(d.kind);
  return bits.join(SEPARATOR);
}

const head = (columns) => h("thead", {}, h("tr", {}, columns.map((t) => h("th", {}, t))));

/** The event history table: ``node``, ``render(events)``. */
export function historyPanel() {
  const rows = h("tbody");
  const node = h(
    "section",
    { class: "history" },
    h("h2", {}, TEXT.historyTitle),
    h("table", {}, head(TEXT.historyColumns), rows),
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
            h("td", {}, e.type.replaceAll("_", " ")),
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
      TEXT.auditTitle,
      h("button", { type: "button", class: "quiet", id: "dossier", onclick: downloadDossier }, TEXT.dossier),
    ),
    h("table", {}, head(TEXT.auditColumns), rows),
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
            h("td", {}, e.action),
            h("td", {}, describeAudit(e)),
            h("td", { class: "hash", title: e.hash }, e.hash.slice(0, 12)),
          ),
        ),
      );
    } catch (error) {
      if (signal.aborted) return;
      rows.replaceChildren(h("tr", {}, h("td", { colspan: 6 }, TEXT.auditFailed(error.message))));
    }
  }

  async function downloadDossier() {
    try {
      const response = await request(`${base}/dossier`);
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: `sitewatch-${alertId}.zip` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), DOSSIER_URL_MS);
      refresh();
    } catch (error) {
      report("error", TEXT.dossierFailed(error.message));
    }
  }

  return { node, refresh };
}
