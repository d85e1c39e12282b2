// The live alert feed: filtered list from GET /api/alerts ("load more" follows the keyset
// cursor), kept current by the event stream without reloading the page.

import { blobUrl, describeError, request } from "./api.js";
import { ago, evidenceName, h, hazardLabel, percent, say, severityLabel, stateLabel, when, zoneName } from "./dom.js";
import { formatTime, t } from "./i18n.js";

const PAGE = 50;
const FRESH_MS = 10_000;

function newer(a, b) {
  // Newest first: by start, then id (as the API orders them).
  if (a.started_at !== b.started_at) return a.started_at > b.started_at;
  return a.alert_id > b.alert_id;
}

function thumbnailName(doc) {
  const pick = (kind) => doc.evidence.find((e) => e.kind === kind && e.url);
  return evidenceName(pick("snapshot_annotated") ?? pick("snapshot"));
}

function select(name, label, options, value, onChange) {
  const field = h(
    "select",
    { id: `filter-${name}`, name, onchange: onChange },
    h("option", { value: "" }, t("feed.all")),
    options.map(([key, text]) => h("option", { value: key, selected: key === value }, text)),
  );
  return h("label", { class: "filter" }, h("span", {}, label), field);
}

export function mountFeed(view, context, params) {
  const { stream, rules } = context;
  const filters = {
    camera: params.get("camera") ?? "",
    hazard: params.get("hazard") ?? "",
    state: params.get("state") ?? "",
  };
  const rows = new Map(); // alert_id -> {doc, node, parts, thumb}
  const abort = new AbortController();
  let cursor = null;
  let pending = 0; // pages asked for and not yet shown
  let chain = Promise.resolve();
  let buffered = [];

  const message = h("p", { class: "message", role: "alert", hidden: true });
  const summary = h("p", { class: "summary", id: "feed-summary" });
  const list = h("ol", { class: "feed", id: "feed", "aria-live": "polite" });
  const more = h("button", { type: "button", id: "load-more", hidden: true, onclick: () => load(true) }, t("feed.loadMore"));

  function applyFilters() {
    for (const name of Object.keys(filters)) filters[name] = view.querySelector(`#filter-${name}`).value;
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
    location.hash = query ? `#/feed?${query}` : "#/feed";
  }

  const known = filters.camera ? [[filters.camera, filters.camera]] : [];
  const cameraFilter = select("camera", t("feed.camera"), known, filters.camera, applyFilters);
  const bar = h(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault() },
    cameraFilter,
    select("hazard", t("feed.hazard"), rules.hazards.map((z) => [z, hazardLabel(z)]), filters.hazard, applyFilters),
    select("state", t("feed.state"), rules.states.map((s) => [s, stateLabel(s)]), filters.state, applyFilters),
  );
  view.append(h("section", { class: "feed-view" }, h("h1", {}, t("feed.title")), bar, summary, message, list, more));

  request("/api/cameras", { signal: abort.signal })
    .then((r) => r.json())
    .then((cameras) => {
      const field = cameraFilter.querySelector("select");
      for (const camera of cameras) {
        if (camera.camera === filters.camera) continue;
        field.append(h("option", { value: camera.camera }, camera.camera));
      }
    })
    .catch(() => {}); // the filter keeps "all" and the current camera

  const seen = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      seen.unobserve(entry.target);
      const row = rows.get(entry.target.dataset.alertId);
      if (row) loadThumbnail(row);
    }
  });

  async function loadThumbnail(row) {
    const name = thumbnailName(row.doc);
    if (!name || row.thumb) return;
    row.thumb = "loading";
    try {
      const url = await blobUrl(`/api/alerts/${row.doc.alert_id}/evidence/${encodeURIComponent(name)}`, abort.signal);
      row.thumb = url;
      row.parts.thumb.src = url;
    } catch {
      row.thumb = null; // the row keeps its placeholder
    }
  }

  function matches(doc) {
    return (
      (!filters.camera || doc.camera === filters.camera) &&
      (!filters.hazard || doc.hazard === filters.hazard) &&
      (!filters.state || doc.workflow_state === filters.state)
    );
  }

  function createRow(doc) {
    const parts = {
      thumb: h("img", { class: "thumb", alt: "" }),
      hazard: h("span", { class: "hazard" }),
      severity: h("span", { class: "severity" }),
      where: h("span", { class: "where" }),
      time: h("span", { class: "time" }),
      ago: h("span", { class: "ago" }),
      state: h("span", { class: "badge" }),
      activity: h("span", { class: "activity" }),
      score: h("span", { class: "score" }),
    };
    const link = h(
      "a",
      { href: `#/alert/${encodeURIComponent(doc.alert_id)}` },
      parts.thumb,
      h("span", { class: "what" }, parts.hazard, parts.severity),
      parts.where,
      h("span", { class: "when" }, parts.time, parts.ago),
      parts.state,
      parts.activity,
      parts.score,
    );
    const node = h("li", { class: "alert-row", dataset: { alertId: doc.alert_id } }, link);
    const row = { doc, node, parts, thumb: null };
    update(row, doc);
    seen.observe(node);
    return row;
  }

  function update(row, doc) {
    row.doc = doc;
    const { parts, node } = row;
    const critical = doc.severity === "critical";
    node.classList.toggle("critical", critical);
    node.classList.toggle("active", doc.active);
    node.dataset.state = doc.workflow_state;
    parts.hazard.textContent = hazardLabel(doc.hazard);
    parts.severity.textContent = severityLabel(doc.severity);
    parts.where.textContent = t("feed.where", { camera: doc.camera, zone: zoneName(doc.zone) });
    parts.time.textContent = when(doc.started_at);
    parts.ago.textContent = ago(doc.started_at);
    parts.state.textContent = stateLabel(doc.workflow_state);
    parts.state.className = `badge state-${doc.workflow_state}`;
    parts.activity.textContent = doc.active ? t("feed.active") : t("feed.ended", { at: formatTime(doc.ended_at) });
    parts.activity.className = `activity ${doc.active ? "on" : "off"}`;
    parts.score.textContent = percent(doc.peak_score);
  }

  function drop(id) {
    const row = rows.get(id);
    if (!row) return;
    row.node.remove();
    seen.unobserve(row.node);
    if (row.thumb && row.thumb !== "loading") URL.revokeObjectURL(row.thumb);
    rows.delete(id);
  }

  function showSummary() {
    const docs = [...rows.values()].map((r) => r.doc);
    const critical = docs.filter((d) => d.severity === "critical" && d.active).length;
    const open = docs.filter((d) => d.workflow_state === "open").length;
    summary.replaceChildren(
      t(cursor ? "feed.shownMore" : "feed.shown", { count: docs.length }),
      t("feed.open", { count: open }),
      critical ? h("span", { class: "critical-count" }, t("feed.criticalActive", { count: critical })) : "",
    );
    if (docs.length === 0 && pending === 0) summary.append(t("feed.none"));
  }

  function apply(payload) {
    const doc = payload.after;
    if (!doc?.alert_id) return;
    const row = rows.get(doc.alert_id);
    if (row && !matches(doc)) drop(doc.alert_id);
    else if (row) update(row, doc);
    else if (matches(doc)) {
      const after = [...list.children].find((node) => newer(doc, rows.get(node.dataset.alertId).doc));
      if (!after && cursor) return; // older than what is shown: "load more" brings it
      const added = createRow(doc);
      rows.set(doc.alert_id, added);
      list.insertBefore(added.node, after ?? null);
      if (payload.type === "new") {
        added.node.classList.add("fresh");
        setTimeout(() => added.node.classList.remove("fresh"), FRESH_MS);
      }
    }
    showSummary();
  }

  async function fetchPage(next) {
    more.disabled = true;
    const query = new URLSearchParams({ limit: String(PAGE) });
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    if (next && cursor) query.set("cursor", cursor);
    try {
      const response = await request(`/api/alerts?${query}`, { signal: abort.signal });
      const docs = await response.json();
      cursor = response.headers.get("X-Next-Cursor");
      const keep = next ? [...list.children] : [];
      const nodes = docs.map((doc) => {
        const row = rows.get(doc.alert_id) ?? createRow(doc);
        update(row, doc);
        rows.set(doc.alert_id, row);
        return row.node;
      });
      if (!next) {
        const shown = new Set(docs.map((d) => d.alert_id));
        for (const id of [...rows.keys()]) if (!shown.has(id)) drop(id);
      }
      list.replaceChildren(...keep, ...nodes);
      say(message, "error", "");
    } catch (error) {
      if (!abort.signal.aborted) say(message, "error", t("feed.failed", { reason: describeError(error) }));
    }
    more.disabled = false;
    more.hidden = !cursor;
  }

  // Pages load one after the other; events that arrive meanwhile wait and are applied in
  // order once the last page is in (so a page never undoes a newer event).
  function load(next) {
    pending += 1;
    chain = chain.then(() => fetchPage(next)).then(() => {
      pending -= 1;
      if (pending > 0) return;
      const waiting = buffered;
      buffered = [];
      for (const payload of waiting) apply(payload);
      showSummary();
    });
  }

  const unsubscribe = stream.subscribe((message) => {
    if (message.kind === "connected" && !message.resumed) load(false); // may have missed some
    else if (message.kind === "event" && pending > 0) buffered.push(message.payload);
    else if (message.kind === "event") apply(message.payload);
  });
  const clock = setInterval(() => {
    for (const row of rows.values()) row.parts.ago.textContent = ago(row.doc.started_at);
  }, 15_000);
  load(false);

  return () => {
    abort.abort();
    unsubscribe();
    clearInterval(clock);
    seen.disconnect();
    for (const id of [...rows.keys()]) drop(id);
  };
}
