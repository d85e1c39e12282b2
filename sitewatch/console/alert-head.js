// An alert's heading: the hazard, its severity, the case's state, whether the hazard is still
// detected, and a line with the camera, zone, times and scores.

import { h, hazardLabel, percent, stateLabel, when } from "./dom.js";

const TEXT = {
  critical: "CRITICAL",
  warning: "warning",
  active: "● hazard still detected",
  ended: "incident ended",
  where: (camera, zone) => `${camera} / ${zone}`,
  started: (at) => ` · started ${at}`,
  endedAt: (at) => ` · ended ${at}`,
  scores: (score, peak) => ` · score ${score} (peak ${peak})`,
  id: (alertId) => ` · ${alertId}`,
};

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
        h("span", { class: `badge severity ${doc.severity}` }, critical ? TEXT.critical : TEXT.warning),
        h("span", { class: `badge state-${doc.workflow_state}`, id: "state" }, stateLabel(doc.workflow_state)),
        h(
          "span",
          { class: `activity ${doc.active ? "on" : "off"}`, id: "activity" },
          doc.active ? TEXT.active : TEXT.ended,
        ),
      );
      meta.replaceChildren(
        h("strong", {}, TEXT.where(doc.camera, doc.zone)),
        TEXT.started(when(doc.started_at)),
        doc.ended_at ? TEXT.endedAt(when(doc.ended_at)) : "",
        TEXT.scores(percent(doc.score), percent(doc.peak_score)),
        h("span", { class: "muted id" }, TEXT.id(doc.alert_id)),
      );
    },
  };
}
