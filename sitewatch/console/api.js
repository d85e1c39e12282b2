// The API from the browser. Every call carries "Authorization: Bearer <token>"; the token is
// kept in sessionStorage (gone when the tab closes). Media elements and EventSource cannot send
// that header, so evidence and frames are fetched into blob: URLs, and the event stream is
// read with fetch() and parsed here (resuming with Last-Event-ID after a drop). A refused call
// is shown by its stable ``code`` in the user's language (``describeError``), never by the
// English ``detail``.

import { formatList, has, t, word } from "./i18n.js";

const KEY = "sitewatch.token";
// Parameters of an error that are domain words, shown in the user's language.
const PARAM_WORDS = { kind: "zoneKind", why: "why", state: "state", action: "action", role: "role", class: "class" };

/** A refused call: ``status``, the API's ``code`` and ``params``; the English "detail" is the
 * message (for logs and tooltips). */
export class ApiError extends Error {
  constructor(status, reason, code = null, params = {}) {
    super(reason);
    this.status = status;
    this.code = code;
    this.params = params ?? {};
  }
}

/** A refused call (or a failed fetch) in the user's language. */
export function describeError(error) {
  if (error instanceof ApiError) {
    const params = { ...error.params };
    if (Array.isArray(params.fields)) params.fields = formatList(params.fields.map((f) => word("field", f)));
    for (const [name, kind] of Object.entries(PARAM_WORDS)) {
      if (typeof params[name] === "string") params[name] = word(kind, params[name]);
    }
    if (error.code && has(`error.${error.code}`)) return t(`error.${error.code}`, params);
    const status = has(`error.status.${error.status}`) ? `error.status.${error.status}` : "error.status.other";
    return t(status, { status: error.status });
  }
  if (error?.name === "AbortError") return t("error.aborted");
  return t("error.network");
}

export function storedToken() {
  return sessionStorage.getItem(KEY);
}

export function storeToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

function withToken(extra = {}, token = storedToken()) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : { ...extra };
}

let unauthorized = () => {};

/** Called with the ApiError when the API answers 401 (token revoked, say). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status alone
  }
  let reason = `${response.status} ${response.statusText}`.trim();
  if (typeof body?.detail === "string") reason = body.detail;
  else if (Array.isArray(body?.detail)) {
    reason = body.detail.map((d) => `${(d.loc ?? []).slice(1).join(".") || "input"}: ${d.msg}`).join("; ");
  }
  return new ApiError(response.status, reason, body?.code ?? null, body?.params ?? {});
}

/** The response of a call, or ApiError with the API's reason. */
export async function request(path, { method = "GET", json, body, contentType, signal } = {}) {
  const extra = {};
  if (json !== undefined) {
    extra["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (contentType) {
    extra["Content-Type"] = contentType;
  }
  const response = await fetch(path, {
    method,
    body,
    signal,
    headers: withToken(extra),
    cache: "no-store",
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) unauthorized(error);
    throw error;
  }
  return response;
}

export async function getJson(path, options) {
  return (await request(path, options)).json();
}

export async function postJson(path, json) {
  return (await request(path, { method: "POST", json })).json();
}

export async function putJson(path, json) {
  return (await request(path, { method: "PUT", json })).json();
}

/** A file of the API (evidence, a frame) as a blob: URL; revoke it when done. */
export async function blobUrl(path, signal) {
  const blob = await (await request(path, { signal })).blob();
  return URL.createObjectURL(blob);
}

/** Who a token belongs to (``/api/me``), or ApiError; null ``token`` tries open access. */
export async function whoIs(token) {
  const response = await fetch("/api/me", { headers: withToken({}, token), cache: "no-store" });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * The live event stream (GET /api/events, Server-Sent Events) read with fetch().
 * Listeners get {kind: "event", id, payload} for each alert event, and {kind: "connected",
 * resumed} once the server has subscribed the stream (resumed: false means events may have
 * been missed: reload what is shown). Status listeners get ("live" | "reconnecting", why).
 */
export class EventStream {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.lastId = null;
    this.retryMs = 3000;
    this.controller = null;
    this.state = "connecting";
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener) {
    this.statusListeners.add(listener);
    listener(this.state, "");
  }

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
    this.lastId = null;
  }

  emit(message) {
    for (const listener of [...this.listeners]) {
      try {
        listener(message);
      } catch (error) {
        console.error("event listener failed", error);
      }
    }
  }

  status(state, why) {
    this.state = state;
    for (const listener of this.statusListeners) listener(state, why);
  }

  async run(signal) {
    while (!signal.aborted) {
      try {
        const extra = { Accept: "text/event-stream" };
        if (this.lastId !== null) extra["Last-Event-ID"] = this.lastId;
        const response = await fetch("/api/events", {
          headers: withToken(extra),
          signal,
          cache: "no-store",
        });
        if (!response.ok) {
          const error = await errorOf(response);
          if (response.status === 401) {
            unauthorized(error);
            return;
          }
          throw error;
        }
        await this.read(response.body, this.lastId !== null);
        if (!signal.aborted) this.status("reconnecting", "the server ended the stream");
      } catch (error) {
        if (signal.aborted) return;
        this.status("reconnecting", error.message);
      }
      await sleep(this.retryMs, signal);
    }
  }

  async read(body, resumed) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let type = "message";
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, "");
        buffer = buffer.slice(end + 1);
        if (line === "") {
          if (data.length > 0 && type === "alert") {
            this.emit({ kind: "event", id: this.lastId, payload: JSON.parse(data.join("\n")) });
          }
          type = "message";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(text);
        else if (field === "event") type = text;
        else if (field === "id" && !text.includes("\0")) this.lastId = text;
        else if (field === "retry" && /^\d+$/.test(text)) {
          // The server's first line: the stream is subscribed from here on.
          this.retryMs = Number(text);
          this.status("live", "");
          this.emit({ kind: "connected", resumed });
        }
      }
    }
  }
}
