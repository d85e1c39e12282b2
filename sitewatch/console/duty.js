// The duty desk: every open case, the unacknowledged ones first (critical first, then the
// longest waiting) with how long they have waited, kept current by the live stream. A new
// critical alert sounds (Web Audio, no file) and shows a browser notification, unless this
// user muted them (the choice is kept per user in this browser). Keys: J/↓ next, K/↑ previous,
// N next unacknowledged, A acknowledge the selected, Enter open it, M mute.

import { describeError, getJson, postJson } from "./api.js";
import { h, hazardLabel, say, severityLabel, stateLabel, when, zoneName } from "./dom.js";
import { formatDuration, t } from "./i18n.js";

const LIMIT = 500;
const TICK_MS = 15_000;
const SETTLE_MS = 200;
const DONE = new Set(["closed", "false_positive"]);

function muteKey(me) {
  return `sitewatch.duty.muted.${me.name}`;
}

/** A short two-tone alarm (Web Audio: nothing to download, nothing to allow). */
function alarm() {
  const Audio = window.AudioContext ?? window.webkitAudioContext;
  if (!Audio) return;
  const audio = new Audio();
  const gain = audio.createGain();
  gain.gain.value = 0.2;
  gain.connect(audio.destination);
  [880, 660, 880].forEach((frequency, i) => {
    const tone = audio.createOscillator();
    tone.frequency.value = frequency;
    tone.connect(gain);
    tone.start(audio.currentTime + i * 0.25);
    tone.stop(audio.currentTime + i * 0.25 + 0.2);
  });
  setTimeout(() => audio.close(), 1200);
}

function order(a, b) {
  const waiting = (d) => (d.workflow_state === "open" ? 0 : 1);
  if (waiting(a) !== waiting(b)) return waiting(a) - waiting(b);
  const critical = (d) => (d.severity === "critical" ? 0 : 1);
  if (waiting(a) === 0 && critical(a) !== critical(b)) return critical(a) - critical(b);
  if (waiting(a) === 0) return a.started_at < b.started_at ? -1 : 1; // longest waiting first
  return a.started_at > b.started_at ? -1 : 1;
}

export function mountDuty(view, context) {
  const { me, stream } = context;
  const canWork = context.rules.case_roles.includes(me.role);
  const abort = new AbortController();
  const docs = new Map();
  let selected = null; // alert_id
  let timer = null;
  let muted = localStorage.getItem(muteKey(me)) === "1";

  const message = h("p", { class: "message", role: "alert", id: "duty-message", hidden: true });
  const counts = h("p", { class: "summary", id: "duty-counts" });
  const list = h("ol", { class: "duty", id: "duty" });
  const mute = h("button", { type: "button", id: "duty-mute", "aria-pressed": String(muted), onclick: toggleMute });
  const notify = h("button", { type: "button", id: "duty-notify", onclick: askNotifications }, t("duty.notify"));
  view.append(
    h(
      "section",
      { class: "duty-view" },
      h("h1", {}, t("duty.title")),
      h(
        "div",
        { class: "buttons" },
        mute,
        "Notification" in window && Notification.permission !== "granted" ? notify : null,
        h("a", { href: "#/handover", class: "button", id: "duty-handover" }, t("duty.handover")),
      ),
      h("p", { class: "muted shortcuts" }, t("duty.shortcuts")),
      counts,
      message,
      list,
    ),
  );

  function showMute() {
    mute.textContent = muted ? t("duty.muted") : t("duty.unmute");
    mute.title = muted ? t("duty.unmute") : t("duty.mute");
    mute.setAttribute("aria-pressed", String(muted));
  }

  function toggleMute() {
    muted = !muted;
    localStorage.setItem(muteKey(me), muted ? "1" : "0");
    showMute();
  }

  async function askNotifications() {
    const answer = await Notification.requestPermission();
    if (answer === "granted") notify.remove();
    else say(message, "error", t("duty.notifyDenied"));
  }

  function ordered() {
    return [...docs.values()].filter((d) => !DONE.has(d.workflow_state)).sort(order);
  }

  function render() {
    const shown = ordered();
    if (selected && !shown.some((d) => d.alert_id === selected)) selected = shown[0]?.alert_id ?? null;
    const waiting = shown.filter((d) => d.workflow_state === "open").length;
    counts.textContent = shown.length
      ? `${t("duty.unacknowledged", { count: waiting })} · ${t("duty.inProgress", { count: shown.length - waiting })}`
      : t("duty.nothing");
    const now = Date.now();
    list.replaceChildren(
      ...shown.map((d) =>
        h(
          "li",
          {
            class: [
              "duty-row",
              d.workflow_state === "open" ? "unacknowledged" : "",
              d.severity === "critical" ? "critical" : "",
              d.alert_id === selected ? "selected" : "",
            ].join(" "),
            dataset: { alertId: d.alert_id, state: d.workflow_state },
            "aria-selected": String(d.alert_id === selected),
            onclick: () => {
              selected = d.alert_id;
              render();
            },
          },
          h("span", { class: "what" }, h("span", { class: "hazard" }, hazardLabel(d.hazard)), h("span", { class: "severity" }, severityLabel(d.severity))),
          h("span", { class: "where" }, `${d.camera} / ${zoneName(d.zone)}`),
          h("span", { class: "when" }, when(d.started_at)),
          h("span", { class: "age" }, t("duty.waiting", { age: formatDuration((now - new Date(d.started_at).getTime()) / 1000) })),
          h("span", { class: `badge state-${d.workflow_state}` }, stateLabel(d.workflow_state)),
          h("a", { href: `#/alert/${encodeURIComponent(d.alert_id)}`, class: "open" }, "→"),
        ),
      ),
    );
    list.querySelector(".selected")?.scrollIntoView({ block: "nearest" });
  }

  async function load() {
    try {
      const found = await getJson(`/api/alerts?limit=${LIMIT}`, { signal: abort.signal });
      docs.clear();
      for (const d of found) docs.set(d.alert_id, d);
      say(message, "error", "");
      if (!selected) selected = ordered()[0]?.alert_id ?? null;
      render();
    } catch (error) {
      if (!abort.signal.aborted) say(message, "error", t("duty.failed", { reason: describeError(error) }));
    }
  }

  function announce(doc) {
    if (muted || doc.severity !== "critical") return;
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(hazardLabel(doc.hazard), {
        body: t("duty.notification", { hazard: severityLabel(doc.severity), camera: doc.camera, zone: zoneName(doc.zone) }),
        tag: doc.alert_id,
        requireInteraction: true,
      });
    }
    try {
      alarm();
    } catch (error) {
      console.warn("no sound", error); // a browser without audio output still notifies
    }
  }

  function move(step, onlyWaiting = false) {
    const shown = ordered().filter((d) => !onlyWaiting || d.workflow_state === "open");
    if (!shown.length) return;
    const at = shown.findIndex((d) => d.alert_id === selected);
    const next = at < 0 ? 0 : (at + step + shown.length) % shown.length;
    selected = shown[next].alert_id;
    render();
  }

  async function acknowledge() {
    const doc = docs.get(selected);
    if (!doc || !canWork || doc.workflow_state !== "open") return;
    try {
      await postJson(`/api/alerts/${encodeURIComponent(doc.alert_id)}/case/acknowledge`, {});
      say(message, "ok", t("duty.acknowledged", { hazard: hazardLabel(doc.hazard), camera: doc.camera }));
      docs.set(doc.alert_id, { ...doc, workflow_state: "acknowledged" });
      move(1, true);
      render();
    } catch (error) {
      say(message, "error", describeError(error));
    }
  }

  function onKey(event) {
    if (event.target.closest?.("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    const actions = {
      j: () => move(1),
      arrowdown: () => move(1),
      k: () => move(-1),
      arrowup: () => move(-1),
      n: () => move(1, true),
      a: acknowledge,
      m: toggleMute,
      enter: () => {
        if (selected) location.hash = `#/alert/${encodeURIComponent(selected)}`;
      },
    };
    if (!(key in actions)) return;
    event.preventDefault();
    actions[key]();
  }

  const unsubscribe = stream.subscribe((m) => {
    if (m.kind === "connected" && !m.resumed) load();
    if (m.kind !== "event" || !m.payload.after?.alert_id) return;
    const doc = m.payload.after;
    docs.set(doc.alert_id, doc);
    if (m.payload.type === "new") announce(doc);
    clearTimeout(timer);
    timer = setTimeout(render, SETTLE_MS);
  });
  window.addEventListener("keydown", onKey);
  const clock = setInterval(render, TICK_MS);
  showMute();
  load();
  return () => {
    abort.abort();
    unsubscribe();
    clearTimeout(timer);
    clearInterval(clock);
    window.removeEventListener("keydown", onKey);
  };
}
