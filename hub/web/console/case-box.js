// The case of an alert at the centre: state, responsible person, deadline, the supervised
// listing (挂牌督办), and the actions the caller's role and the case allow. Each action goes
// through POST /api/alerts/<id>/actions as a command to the owning edge: the box shows it
// pending until the edge's state event settles it, then the state the edge applied, or the
// edge's refusal (worded by its error code). A grid supervisor (or the street office) lists a
// case as supervised; only the named supervisor closes out a listed case.

import { ApiError, describeError, postJson } from "./api.js";
import { h, say, stateLabel, when } from "./dom.js";
import { fromSiteLocal, t, toSiteLocal, word } from "./i18n.js";

// In the order shown; which are offered comes from vocabulary.json (the edge's workflow).
const ACTIONS = [
  { action: "acknowledge", fields: [], primary: true },
  { action: "assign", fields: ["owner", "deadline", "note"] },
  { action: "rectify", fields: ["done"] },
  { action: "close", fields: ["note"], primary: true },
  { action: "comment", fields: ["text"] },
  { action: "reopen", fields: ["reason"] },
  { action: "false_positive", fields: ["reason"] },
];
const NOTE_FIELDS = ["note", "done", "text", "reason"];
const DEFAULT_DEADLINE_MS = 4 * 3600_000;
const SUPERVISE_DEADLINE_MS = 3 * 86400_000;
const ACTING_ROLES = ["street_office", "supervisor", "officer"];
const LISTING_ROLES = ["street_office", "supervisor"];

function field(kind, defaultMs = DEFAULT_DEADLINE_MS) {
  const id = `field-${kind}`;
  const required = kind !== "note";
  const input =
    kind === "owner"
      ? h("input", { id, name: kind, required: true, maxlength: 200, autocomplete: "off" })
      : kind === "deadline"
        ? h("input", { id, name: kind, type: "datetime-local", required: true, value: toSiteLocal(new Date(Date.now() + defaultMs)) })
        : h("textarea", { id, name: kind, rows: 2, required, maxlength: 4000 });
  return h("label", { class: "field" }, h("span", {}, t(`case.field.${kind}`)), input);
}

/** What an action posts, from its form's values. */
function actionBody(action, values) {
  const text = (name) => (typeof values[name] === "string" ? values[name].trim() : "");
  const note = NOTE_FIELDS.map(text).find(Boolean);
  const body = { action, ...(note ? { note } : {}) };
  if (action === "assign") {
    body.owner = text("owner");
    body.deadline = fromSiteLocal(text("deadline")).toISOString();
  }
  return body;
}

/** A settled command's refusal in the user's language. */
function refusal(command) {
  const error = new ApiError(409, command.reason ?? "", command.code ?? null, command.params ?? {});
  return t("hubCase.refused", { action: word("action", command.action), reason: describeError(error) });
}

/** The case column: ``node``, ``render(doc)`` with the hub's alert document. ``changed()``
 * reloads the alert after a command was accepted. */
export function caseBox({ base, context, changed }) {
  const { me, words } = context;
  let signature = null; // of what the buttons were drawn for
  let watched = null; // the command_id sent from this page, until it settles

  const details = h("dl", { class: "case", id: "case" });
  const status = h("p", { class: "message", role: "status", id: "command-status", hidden: true });
  const buttons = h("div", { class: "buttons", id: "actions" });
  const formArea = h("div", { class: "form-area" });
  const message = h("p", { class: "message", role: "alert", id: "action-message", hidden: true });
  const work = h("section", { class: "work" }, h("h2", {}, t("case.actionsTitle")), status, buttons, formArea, message);
  const node = h("div", { class: "side" }, h("section", {}, h("h2", {}, t("case.caseTitle")), details), work);

  function renderDetails(doc) {
    const row = (term, value) => [h("dt", {}, term), h("dd", {}, value ?? t("case.none"))];
    details.replaceChildren(
      ...row(t("case.term.state"), h("span", { id: "case-state", class: `badge state-${doc.workflow_state}` }, stateLabel(doc.workflow_state))),
      ...row(t("case.term.owner"), doc.owner),
      ...row(t("case.term.deadline"), doc.deadline ? when(doc.deadline) : null),
      ...row(
        t("hubCase.listing"),
        doc.supervised
          ? t("hubCase.listedBy", { name: doc.supervisor, deadline: when(doc.supervised_deadline) })
          : doc.supervised_closed_at
            ? t("hubCase.closedOut", { when: when(doc.supervised_closed_at) })
            : t("hubCase.notListed"),
      ),
      ...(doc.escalation ? row(t("hubCase.escalation"), word("hubEscalation", String(doc.escalation))) : []),
    );
  }

  function renderStatus(doc) {
    const pending = doc.commands.find((c) => c.status === "pending");
    if (pending) {
      status.dataset.state = "pending";
      say(status, "ok", t("hubCase.pending", { action: word("action", pending.action) }));
      status.className = "message pending";
      return true;
    }
    const mine = doc.commands.find((c) => c.command_id === watched);
    status.dataset.state = mine ? mine.status : "";
    if (mine?.status === "applied") {
      say(status, "ok", t("hubCase.applied", { action: word("action", mine.action), state: stateLabel(doc.workflow_state) }));
    } else if (mine?.status === "rejected") {
      say(status, "error", refusal(mine));
    } else {
      const last = doc.commands.at(-1);
      say(status, "error", last?.status === "rejected" ? refusal(last) : "");
    }
    return false;
  }

  function renderButtons(doc, pending) {
    const drawn = `${doc.workflow_state}|${doc.supervised}|${pending}`;
    if (drawn === signature) return;
    signature = drawn;
    if (!ACTING_ROLES.includes(me.role)) {
      formArea.replaceChildren();
      buttons.replaceChildren(h("p", { class: "muted", id: "read-only" }, t("case.readOnly", { role: word("role", me.role) })));
      return;
    }
    const closeBlocked = doc.supervised && me.name !== doc.supervisor;
    const allowed = ACTIONS.filter((a) => words.actions[a.action]?.includes(doc.workflow_state))
      .filter((a) => !(a.action === "close" && closeBlocked));
    const typing = formArea.querySelector("form")?.dataset.action;
    if (pending || !allowed.some((a) => a.action === typing)) formArea.replaceChildren();
    const offered = allowed.map((a) =>
      h(
        "button",
        { type: "button", class: a.primary ? "primary" : "", disabled: pending, dataset: { action: a.action }, onclick: () => open(a) },
        a.action === "close" && doc.supervised ? t("hubCase.closeOut") : word("action", a.action),
      ),
    );
    if (LISTING_ROLES.includes(me.role) && !doc.supervised && doc.workflow_state !== "closed") {
      offered.push(h("button", { type: "button", disabled: pending, dataset: { action: "supervise" }, onclick: openSupervise }, t("hubCase.supervise")));
    }
    buttons.replaceChildren(...offered);
    if (closeBlocked && words.actions.close?.includes(doc.workflow_state)) {
      buttons.append(h("p", { class: "muted", id: "close-out-by" }, t("hubCase.onlySupervisor", { name: doc.supervisor })));
    }
  }

  function form(name, title, fields, submit) {
    const element = h(
      "form",
      { class: "action-form", dataset: { action: name } },
      h("h3", {}, title),
      fields,
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "submit", class: "primary" }, t("case.confirm", { action: title })),
        h("button", { type: "button", class: "quiet", onclick: () => formArea.replaceChildren() }, t("case.cancel")),
      ),
    );
    element.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(Object.fromEntries(new FormData(element).entries()), element);
    });
    formArea.replaceChildren(element);
    element.querySelector("input, textarea")?.focus();
  }

  function open(spec) {
    say(message, "ok", "");
    if (spec.fields.length === 0) {
      send(() => postJson(`${base}/actions`, actionBody(spec.action, {})));
      return;
    }
    form(spec.action, word("action", spec.action), spec.fields.map((f) => field(f)), (values, element) =>
      send(() => postJson(`${base}/actions`, actionBody(spec.action, values)), element),
    );
  }

  function openSupervise() {
    say(message, "ok", "");
    form("supervise", t("hubCase.supervise"), [field("deadline", SUPERVISE_DEADLINE_MS), field("note")], (values, element) => {
      const note = typeof values.note === "string" && values.note.trim() ? { note: values.note.trim() } : {};
      const body = { deadline: fromSiteLocal(values.deadline).toISOString(), ...note };
      send(() => postJson(`${base}/supervise`, body), element, t("hubCase.listed"));
    });
  }

  async function send(call, element, done = null) {
    const controls = [...work.querySelectorAll("button")];
    for (const control of controls) control.disabled = true;
    try {
      const answer = await call();
      if (answer?.command_id) watched = answer.command_id;
      element?.remove();
      say(message, "ok", done ?? "");
      signature = null;
      await changed();
    } catch (error) {
      say(message, "error", t("hubCase.failed", { reason: describeError(error) }));
      for (const control of controls) control.disabled = false;
    }
  }

  return {
    node,
    render(doc) {
      renderDetails(doc);
      const pending = renderStatus(doc);
      renderButtons(doc, pending);
    },
  };
}
