// One alert: its heading (alert-head.js), snapshots and clip (alert-media.js), case and the
// workflow actions the role and the case's state allow (alert-case.js), the event history and,
// for auditors, the audit trail (alert-history.js); reloaded when the live stream says it
// changed.

import { ApiError, describeError, getJson } from "./api.js";
import { h, say } from "./dom.js";
import { t } from "./i18n.js";
import { casePanel } from "./alert-case.js";
import { headPanel } from "./alert-head.js";
import { auditPanel, historyPanel } from "./alert-history.js";
import { mediaPanel } from "./alert-media.js";

const SETTLE_MS = 150; // events of one change arrive together: reload once

export function mountAlert(view, context, alertId) {
  const { me, rules, stream } = context;
  const canAudit = rules.audit_roles.includes(me.role);
  const base = `/api/alerts/${encodeURIComponent(alertId)}`;
  const abort = new AbortController();
  let timer = null;

  const loadError = h("p", { class: "message error", role: "alert", hidden: true });
  const head = headPanel();
  const media = mediaPanel(base, abort.signal);
  const work = casePanel({ base, me, rules, changed: () => refresh() });
  const history = historyPanel();
  const audit = canAudit ? auditPanel({ alertId, base, signal: abort.signal, report: work.say }) : null;

  view.append(
    h(
      "section",
      { class: "alert-view" },
      h("a", { href: "#/feed", class: "back" }, t("alert.back")),
      loadError,
      head.nodes,
      h("div", { class: "alert-grid" }, media.node, work.node),
      history.node,
      audit?.node,
    ),
  );

  async function refresh() {
    let detail;
    try {
      detail = await getJson(base, { signal: abort.signal });
    } catch (error) {
      if (abort.signal.aborted) return;
      const missing = error instanceof ApiError && error.status === 404;
      say(loadError, "error", missing ? t("alert.missing", { alertId }) : t("alert.failed", { reason: describeError(error) }));
      return;
    }
    say(loadError, "error", "");
    head.render(detail);
    media.render(detail);
    work.render(detail);
    history.render(detail.events);
    audit?.refresh();
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, SETTLE_MS);
  }

  const unsubscribe = stream.subscribe((m) => {
    if (m.kind === "connected" && !m.resumed) soon();
    else if (m.kind === "event" && m.payload.after?.alert_id === alertId) soon();
  });
  refresh();

  return () => {
    abort.abort();
    unsubscribe();
    clearTimeout(timer);
    media.close();
  };
}
