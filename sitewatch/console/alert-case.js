// An alert's case: its state, owner and deadline, and the workflow actions (acknowledge,
// assign, mark rectified with a photo, verify & close, reopen, false positive, comment) that
// the role and the case's state allow, each with its form and the API's answer.

import { ApiError, describeError, postJson } from "./api.js";
import { h, say, stateLabel, when } from "./dom.js";
import { fromSiteLocal, t, toSiteLocal, word } from "./i18n.js";
import { uploadPhoto } from "./alert-media.js";

// The case routes; which are shown comes from rules.json (the API's own state machine).
const ACTIONS = [
  { action: "acknowledge", path: "acknowledge", fields: [], primary: true },
  { action: "assign", path: "assign", fields: ["owner", "deadline", "note"] },
  { action: "rectify", path: "rectify", fields: ["done", "photo"] },
  { action: "close", path: "close", fields: ["note"], primary: true },
  { action: "reopen", path: "reopen", fields: ["reason"] },
  { action: "false_positive", path: "false-positive", fields: ["reason"] },
  { action: "comment", path: "comment", fields: ["text"] },
];
const DEFAULT_DEADLINE_MS = 4 * 3600_000;

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
        value: toSiteLocal(new Date(Date.now() + DEFAULT_DEADLINE_MS)),
      }),
    note: () => h("textarea", { id, name: kind, rows: 2, maxlength: 4000 }),
    done: () => h("textarea", { id, name: kind, rows: 2, required: true, maxlength: 4000 }),
    reason: () => h("textarea", { id, name: kind, rows: 2, required: true, maxlength: 4000 }),
    text: () => h("textarea", { id, name: kind, rows: 2, required: true, maxlength: 4000 }),
    photo: () => h("input", { id, name: kind, type: "file", accept: "image/jpeg,image/png" }),
  };
  return h("label", { class: "field" }, h("span", {}, t(`case.field.${kind}`)), inputs[kind]());
}

/** What an action posts, from its form's values (the rectification photo is uploaded first). */
async function body(base, spec, values) {
  const text = (name) => (typeof values[name] === "string" ? values[name].trim() : "");
  const note = text("note") ? { note: text("note") } : {};
  switch (spec.action) {
    case "assign":
      return { owner: text("owner"), deadline: fromSiteLocal(text("deadline")).toISOString(), ...note };
    case "rectify": {
      const photo = values.photo;
      const photos = photo instanceof File && photo.size > 0 ? [await uploadPhoto(base, photo)] : [];
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

function failure(error) {
  const reason = describeError(error);
  if (error instanceof ApiError && error.status === 409) return t("case.conflict", { reason });
  if (error instanceof ApiError && error.status === 422) return t("case.invalid", { reason });
  return reason;
}

/** The case column of the alert at ``base``: ``node``, ``render(doc)`` with the alert's
 * document, ``say(kind, text)`` on its message line. ``changed()`` (a promise) reloads the
 * alert after an action went through. */
export function casePanel({ base, me, rules, changed }) {
  const canWork = rules.case_roles.includes(me.role);
  let signature = null; // of what the buttons were drawn for

  const caseBox = h("dl", { class: "case", id: "case" });
  const buttons = h("div", { class: "buttons", id: "actions" });
  const formArea = h("div", { class: "form-area" });
  const message = h("p", { class: "message", role: "alert", id: "action-message", hidden: true });
  const work = h("section", { class: "work" }, h("h2", {}, t("case.actionsTitle")), buttons, formArea, message);
  const node = h("div", { class: "side" }, h("section", {}, h("h2", {}, t("case.caseTitle")), caseBox), work);

  function renderCase(c) {
    const row = (term, value) => [h("dt", {}, t(`case.term.${term}`)), h("dd", {}, value ?? t("case.none"))];
    caseBox.replaceChildren(
      ...row("state", stateLabel(c.state)),
      ...row("owner", c.owner),
      ...row("deadline", c.deadline ? when(c.deadline) : null),
      ...(c.escalated_at ? row("escalated", when(c.escalated_at)) : []),
      ...row("updated", c.updated_at ? t("case.updatedBy", { at: when(c.updated_at), actor: c.updated_by }) : null),
    );
  }

  function renderActions(doc) {
    const state = doc.workflow_state;
    const drawn = `${state}|${doc.active}`;
    if (drawn === signature) return;
    signature = drawn;
    if (!canWork) {
      buttons.replaceChildren(h("p", { class: "muted", id: "read-only" }, t("case.readOnly", { role: word("role", me.role) })));
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
          word("action", a.action),
        ),
      ),
    );
    if (state === "rectified" && doc.active) buttons.append(h("p", { class: "muted" }, t("case.stillDetected")));
  }

  function open(spec) {
    say(message, "ok", "");
    if (spec.fields.length === 0) {
      run(spec, {});
      return;
    }
    const label = word("action", spec.action);
    const form = h(
      "form",
      { class: "action-form", dataset: { action: spec.action } },
      h("h3", {}, label),
      spec.fields.map(field),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "submit", class: "primary" }, t("case.confirm", { action: label })),
        h("button", { type: "button", class: "quiet", onclick: () => formArea.replaceChildren() }, t("case.cancel")),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run(spec, Object.fromEntries(new FormData(form).entries()), form);
    });
    formArea.replaceChildren(form);
    form.querySelector("input, textarea")?.focus();
  }

  async function run(spec, values, form) {
    const controls = [...work.querySelectorAll("button")];
    for (const control of controls) control.disabled = true;
    try {
      await postJson(`${base}/case/${spec.path}`, await body(base, spec, values));
      form?.remove();
      say(message, "ok", t(`case.done.${spec.action}`));
      await changed();
    } catch (error) {
      say(message, "error", failure(error));
    } finally {
      for (const control of controls) control.disabled = false;
    }
  }

  return {
    node,
    render(doc) {
      renderCase(doc.case);
      renderActions(doc);
    },
    say: (kind, text) => say(message, kind, text),
  };
}
