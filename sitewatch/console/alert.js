// One alert: details, annotated snapshot, clip, case, the workflow actions the role and the
// case's state allow, the event history and (for auditors) the audit trail.

import { ApiError, blobUrl, getJson, postJson, request } from "./api.js";
import { evidenceName, h, hazardLabel, percent, say, stateLabel, when } from "./dom.js";

// The case routes; which are shown comes from rules.json (the API's own state machine).
const ACTIONS = [
  { action: "acknowledge", label: "Acknowledge", path: "acknowledge", fields: [], primary: true },
  { action: "assign", label: "Assign", path: "assign", fields: ["owner", "deadline", "note"] },
  { action: "rectify", label: "Mark rectified", path: "rectify", fields: ["done", "photo"] },
  { action: "close", label: "Verify & close", path: "close", fields: ["note"], primary: true },
  { action: "reopen", label: "Reopen", path: "reopen", fields: ["reason"] },
  { action: "false_positive", label: "False positive", path: "false-positive", fields: ["reason"] },
  { action: "comment", label: "Comment", path: "comment", fields: ["text"] },
];
const DONE = {
  acknowledge: "Acknowledged.",
  assign: "Assigned.",
  rectify: "Marked rectified.",
  close: "Verified and closed.",
  reopen: "Reopened.",
  false_positive: "Marked as a false positive.",
  comment: "Comment added.",
};

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

function field(kind) {
  const id = `field-${kind}`;
  const inputs = {
    owner: () => h("input", { id, name: kind, required: true, maxlength: 200, autocomplete: "off" }),
    deadline: () =>
      h("input", {
        id,
        name: kind,
        type: "datetime-local",
        required: true,
        value: localInput(new Date(Date.now() + 4 * 3600_000)),
      }),
    note: () => h("textarea", { id, name: kind, rows: 2, maxlength: 4000 }),
    done: () => h("textarea", { id, name: kind, rows: 2, required: true, maxlength: 4000 }),
    reason: () => h("textarea", { id, name: kind, rows: 2, required: true, maxlength: 4000 }),
    text: () => h("textarea", { id, name: kind, rows: 2, required: true, maxlength: 4000 }),
    photo: () => h("input", { id, name: kind, type: "file", accept: "image/jpeg,image/png" }),
  };
  const labels = {
    owner: "Responsible person",
    deadline: "Deadline",
    note: "Note (optional)",
    done: "What was done",
    reason: "Reason",
    text: "Comment",
    photo: "Photo of the rectified site (optional, JPEG or PNG)",
  };
  return h("label", { class: "field" }, h("span", {}, labels[kind]), inputs[kind]());
}

function describeEvent(event) {
  const after = event.after ?? {};
  if (event.type === "state" && event.case) {
    const c = event.case;
    const bits = [`${c.actor}: ${c.action.replaceAll("_", " ")}`];
    if (c.from !== c.to) bits.push(`${stateLabel(c.from)} → ${stateLabel(c.to)}`);
    if (c.action === "assign") bits.push(`to ${c.owner}, due ${when(c.deadline)}`);
    if (c.note) bits.push(`“${c.note}”`);
    if (c.photos?.length) bits.push(`photos: ${c.photos.join(", ")}`);
    return bits.join(" · ");
  }
  if (event.type === "new") return `Detected (${after.severity}, score ${percent(after.score)})`;
  if (event.type === "update") return `Update: score ${percent(after.score)}, peak ${percent(after.peak_score)}`;
  if (event.type === "end") return "The hazard is no longer detected";
  if (event.type === "clip_ready") return `Clip part ${after.clip?.part ?? ""} ready`;
  return event.type;
}

function describeAudit(entry) {
  const d = entry.detail ?? {};
  const bits = [];
  if (d.from && d.to) bits.push(d.from === d.to ? d.from : `${d.from} → ${d.to}`);
  if (d.owner) bits.push(`owner ${d.owner}`);
  if (d.note) bits.push(`“${d.note}”`);
  if (d.name) bits.push(d.name);
  if (d.kind && !d.name) bits.push(d.kind);
  return bits.join(" · ");
}

export function mountAlert(view, context, alertId) {
  const { me, rules, stream } = context;
  const canWork = rules.case_roles.includes(me.role);
  const canAudit = rules.audit_roles.includes(me.role);
  const base = `/api/alerts/${encodeURIComponent(alertId)}`;
  const abort = new AbortController();
  const urls = { image: [], clip: [] }; // blob: URLs to revoke
  let signatures = { images: null, clip: null, actions: null };
  let detail = null;
  let timer = null;
  let clipPart = null; // the part being shown (null: the latest)

  const head = h("header", { class: "alert-head" });
  const meta = h("p", { class: "meta" });
  const mainImage = h("div", { class: "main-image" });
  const extras = h("div", { class: "extras" });
  const clip = h("div", { class: "clip" });
  const caseBox = h("dl", { class: "case", id: "case" });
  const buttons = h("div", { class: "buttons", id: "actions" });
  const formArea = h("div", { class: "form-area" });
  const message = h("p", { class: "message", role: "alert", id: "action-message", hidden: true });
  const history = h("tbody");
  const audit = h("tbody");
  const loadError = h("p", { class: "message error", role: "alert", hidden: true });

  view.append(
    h(
      "section",
      { class: "alert-view" },
      h("a", { href: "#/feed", class: "back" }, "← All alerts"),
      loadError,
      head,
      meta,
      h(
        "div",
        { class: "alert-grid" },
        h("div", { class: "media" }, mainImage, clip, extras),
        h(
          "div",
          { class: "side" },
          h("section", {}, h("h2", {}, "Case"), caseBox),
          h("section", { class: "work" }, h("h2", {}, "Actions"), buttons, formArea, message),
        ),
      ),
      h(
        "section",
        { class: "history" },
        h("h2", {}, "History"),
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["When", "Event", "What"].map((t) => h("th", {}, t)))),
          history,
        ),
      ),
      canAudit
        ? h(
            "section",
            { class: "audit" },
            h(
              "h2",
              {},
              "Audit trail ",
              h(
                "button",
                { type: "button", class: "quiet", id: "dossier", onclick: downloadDossier },
                "Download dossier",
              ),
            ),
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["#", "When", "Who", "Action", "Detail", "Hash"].map((t) => h("th", {}, t)))),
              audit,
            ),
          )
        : null,
    ),
  );

  function revoke(kind) {
    for (const url of urls[kind]) URL.revokeObjectURL(url);
    urls[kind] = [];
  }

  async function show(kind, img, name) {
    try {
      const url = await blobUrl(`${base}/evidence/${encodeURIComponent(name)}`, abort.signal);
      urls[kind].push(url);
      img.src = url;
    } catch (error) {
      if (!abort.signal.aborted) img.replaceWith(h("p", { class: "message error" }, `${name}: ${error.message}`));
    }
  }

  function renderImages(doc) {
    const pick = (kind) => doc.evidence.filter((e) => e.kind === kind);
    const wanted = [
      ...(pick("snapshot_annotated").length ? pick("snapshot_annotated") : pick("snapshot")).map(
        (e) => [e, "At the start"],
      ),
      ...pick("peak_annotated").map((e) => [e, "At the peak"]),
      ...pick("rectification").map((e) => [e, `Rectification photo ${e.part}`]),
    ];
    const signature = wanted.map(([e]) => `${e.sha256}:${Boolean(e.url)}`).join();
    if (signature === signatures.images) return;
    signatures.images = signature;
    revoke("image");
    mainImage.replaceChildren();
    extras.replaceChildren();
    if (wanted.length === 0) mainImage.append(h("p", { class: "muted" }, "No snapshot."));
    wanted.forEach(([item, caption], index) => {
      const name = evidenceName(item);
      const img = h("img", { alt: caption, id: index === 0 ? "snapshot" : null });
      const shown = name ? img : h("p", { class: "muted" }, "Removed by retention.");
      const figure = h("figure", {}, shown, h("figcaption", {}, caption));
      (index === 0 ? mainImage : extras).append(figure);
      if (name) show("image", img, name);
    });
  }

  function renderClip(doc) {
    const parts = doc.evidence.filter((e) => e.kind === "clip").sort((a, b) => a.part - b.part);
    const current = parts.find((e) => e.part === clipPart) ?? parts.at(-1);
    const signature = parts.map((e) => `${e.part}:${e.sha256}:${Boolean(e.url)}`).join() + `|${current?.part}`;
    if (signature === signatures.clip) return;
    signatures.clip = signature;
    revoke("clip");
    clip.replaceChildren();
    if (!current) {
      const why = doc.active ? "The clip is being recorded (it arrives after the incident ends)." : "No clip.";
      clip.append(h("p", { class: "muted" }, why));
      return;
    }
    const name = evidenceName(current);
    if (!name) {
      clip.append(h("p", { class: "muted" }, "The clip was removed by retention."));
      return;
    }
    const video = h("video", {
      id: "clip",
      controls: true,
      muted: true,
      autoplay: true,
      playsinline: true,
      preload: "auto",
    });
    video.muted = true; // the attribute alone does not mute a script-made element
    const caption = parts.length > 1 ? `Clip, part ${current.part} of ${parts.length}` : "Clip";
    clip.append(h("figure", {}, video, h("figcaption", {}, caption)));
    if (parts.length > 1) {
      clip.append(
        h(
          "div",
          { class: "parts" },
          parts.map((e) =>
            h(
              "button",
              {
                type: "button",
                class: e === current ? "quiet current" : "quiet",
                onclick: () => {
                  clipPart = e.part;
                  renderClip(detail);
                },
              },
              `Part ${e.part}`,
            ),
          ),
        ),
      );
    }
    blobUrl(`${base}/evidence/${encodeURIComponent(name)}`, abort.signal)
      .then((url) => {
        urls.clip.push(url);
        video.src = url;
      })
      .catch((error) => {
        if (!abort.signal.aborted) video.replaceWith(h("p", { class: "message error" }, `Clip: ${error.message}`));
      });
  }

  function renderHead(doc) {
    const critical = doc.severity === "critical";
    head.className = `alert-head${critical ? " critical" : ""}`;
    head.replaceChildren(
      h("h1", {}, hazardLabel(doc.hazard)),
      h("span", { class: `badge severity ${doc.severity}` }, critical ? "CRITICAL" : "warning"),
      h("span", { class: `badge state-${doc.workflow_state}`, id: "state" }, stateLabel(doc.workflow_state)),
      h(
        "span",
        { class: `activity ${doc.active ? "on" : "off"}`, id: "activity" },
        doc.active ? "● hazard still detected" : "incident ended",
      ),
    );
    meta.replaceChildren(
      h("strong", {}, `${doc.camera} / ${doc.zone}`),
      ` · started ${when(doc.started_at)}`,
      doc.ended_at ? ` · ended ${when(doc.ended_at)}` : "",
      ` · score ${percent(doc.score)} (peak ${percent(doc.peak_score)})`,
      h("span", { class: "muted id" }, ` · ${doc.alert_id}`),
    );
  }

  function renderCase(c) {
    const row = (term, value) => [h("dt", {}, term), h("dd", {}, value ?? "—")];
    caseBox.replaceChildren(
      ...row("State", stateLabel(c.state)),
      ...row("Responsible", c.owner),
      ...row("Deadline", c.deadline ? when(c.deadline) : null),
      ...(c.escalated_at ? row("Escalated", when(c.escalated_at)) : []),
      ...row("Last action", c.updated_at ? `${when(c.updated_at)} by ${c.updated_by}` : null),
    );
  }

  function renderActions(doc) {
    const state = doc.workflow_state;
    const signature = `${state}|${doc.active}`;
    if (signature === signatures.actions) return;
    signatures.actions = signature;
    if (!canWork) {
      buttons.replaceChildren(
        h("p", { class: "muted", id: "read-only" }, `Your role (${me.role}) may follow cases but not work them.`),
      );
      return;
    }
    const allowed = ACTIONS.filter((a) => rules.actions[a.action]?.from.includes(state));
    const typing = formArea.querySelector("form")?.dataset.action;
    if (!allowed.some((a) => a.action === typing)) formArea.replaceChildren(); // keep what is typed
    buttons.replaceChildren(
      ...allowed.map((a) =>
        h(
          "button",
          { type: "button", class: a.primary ? "primary" : "", dataset: { action: a.action }, onclick: () => open(a) },
          a.label,
        ),
      ),
    );
    if (state === "rectified" && doc.active) {
      const why = "The hazard is still detected: closing needs the incident to have ended.";
      buttons.append(h("p", { class: "muted" }, why));
    }
  }

  function open(spec) {
    say(message, "ok", "");
    if (spec.fields.length === 0) {
      run(spec, {});
      return;
    }
    const form = h(
      "form",
      { class: "action-form", dataset: { action: spec.action } },
      h("h3", {}, spec.label),
      spec.fields.map(field),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "submit", class: "primary" }, `Confirm: ${spec.label.toLowerCase()}`),
        h("button", { type: "button", class: "quiet", onclick: () => formArea.replaceChildren() }, "Cancel"),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run(spec, Object.fromEntries(new FormData(form).entries()), form);
    });
    formArea.replaceChildren(form);
    form.querySelector("input, textarea")?.focus();
  }

  async function body(spec, values) {
    const text = (name) => (typeof values[name] === "string" ? values[name].trim() : "");
    const note = text("note") ? { note: text("note") } : {};
    switch (spec.action) {
      case "assign":
        return { owner: text("owner"), deadline: new Date(text("deadline")).toISOString(), ...note };
      case "rectify": {
        const photos = [];
        const photo = values.photo;
        if (photo instanceof File && photo.size > 0) {
          const response = await request(`${base}/case/photos`, {
            method: "POST",
            body: photo,
            contentType: photo.type,
          });
          photos.push((await response.json()).name);
        }
        return { note: text("done"), photos };
      }
      case "reopen":
      case "false_positive":
        return { reason: text("reason") };
      case "comment":
        return { text: text("text") };
      default:
        return note;
    }
  }

  async function run(spec, values, form) {
    const controls = [...view.querySelectorAll(".work button")];
    for (const control of controls) control.disabled = true;
    try {
      await postJson(`${base}/case/${spec.path}`, await body(spec, values));
      form?.remove();
      say(message, "ok", DONE[spec.action]);
      await refresh();
    } catch (error) {
      const why =
        error instanceof ApiError && error.status === 409
          ? `Not possible now: ${error.message}`
          : error instanceof ApiError && error.status === 422
            ? `Check the input: ${error.message}`
            : error.message;
      say(message, "error", why);
    } finally {
      for (const control of controls) control.disabled = false;
    }
  }

  function renderHistory(events) {
    history.replaceChildren(
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
  }

  async function refreshAudit() {
    if (!canAudit) return;
    try {
      const query = `alert_id=${encodeURIComponent(alertId)}&limit=5000`;
      const entries = await getJson(`/api/audit?${query}`, { signal: abort.signal });
      audit.replaceChildren(
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
      if (abort.signal.aborted) return;
      const why = `Cannot read the audit trail: ${error.message}`;
      audit.replaceChildren(h("tr", {}, h("td", { colspan: 6 }, why)));
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
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      refreshAudit();
    } catch (error) {
      say(message, "error", `Dossier: ${error.message}`);
    }
  }

  async function refresh() {
    try {
      detail = await getJson(base, { signal: abort.signal });
    } catch (error) {
      if (abort.signal.aborted) return;
      const missing = error instanceof ApiError && error.status === 404;
      say(loadError, "error", missing ? `No such alert: ${alertId}` : `Cannot load the alert: ${error.message}`);
      return;
    }
    say(loadError, "error", "");
    renderHead(detail);
    renderImages(detail);
    renderClip(detail);
    renderCase(detail.case);
    renderActions(detail);
    renderHistory(detail.events);
    refreshAudit();
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
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
    revoke("image");
    revoke("clip");
  };
}
