// An alert's heading: the hazard, its severity, the case's state, whether the hazard is still
// detected, and a line with the camera, zone, times and scores.

import { h, hazardLabel, percent, severityLabel, stateLabel, when, zoneName } from "./dom.js";
import { t, zoneLabel } from "./i18n.js";

/** The heading: ``nodes`` (the title bar and the line under it), ``render(doc)``. */
export function headPanel() {
  const head = h("header", { class: "alert-head" });
  const meta = h("p", { class: "meta" });
  return {
    nodes: [head, meta],
    render(doc) {
      const critical = doc.severity === "critical";
      head.className = `alert-head${critical ? " critical" : ""}`;
      head.replaceChildren(
        h("h1", {}, hazardLabel(doc.hazard)),
        h("span", { class: `badge severity ${doc.severity}` }, severityLabel(doc.severity)),
        h("span", { class: `badge state-${doc.workflow_state}`, id: "state" }, stateLabel(doc.workflow_state)),
        h(
          "span",
          { class: `activity ${doc.active ? "on" : "off"}`, id: "activity" },
          doc.active ? t("head.active") : t("head.ended"),
        ),
      );
      meta.replaceChildren(
        h("strong", {}, t("head.where", { camera: doc.camera, zone: zoneName(doc.zone) })),
        t("head.started", { at: when(doc.started_at) }),
        doc.ended_at ? t("head.endedAt", { at: when(doc.ended_at) }) : "",
        t("head.scores", { score: percent(doc.score), peak: percent(doc.peak_score) }),
        h("span", { class: "muted zone", title: zoneLabel() }, t("head.zone", { zone: zoneLabel() })),
        h("span", { class: "muted id" }, t("head.id", { alertId: doc.alert_id })),
      );
    },
  };
}
