// Small DOM helpers: elements built from data never go through innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "text") {
      node.textContent = String(value);
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("a", {href: "#/feed", class: "x"}, "text", otherNode). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** The hazards sitewatch watches for, by their API name. */
export const HAZARDS = {
  blocked_exit: "Blocked exit",
  flame: "Flame / smoke",
  missing_hardhat: "No hard hat",
};

/** A hazard's name for people. */
export function hazardLabel(hazard) {
  return HAZARDS[hazard] ?? hazard.replaceAll("_", " ");
}

/** A workflow state's name for people. */
export function stateLabel(state) {
  return state.replaceAll("_", " ");
}

const pad = (n) => String(n).padStart(2, "0");

/** Local date and time, 24 h: 2026-11-03 14:05:09. */
export function when(value) {
  if (value === null || value === undefined) return "—";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** How long ago: "45 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(value, now = Date.now()) {
  if (!value) return "";
  const seconds = Math.max(0, Math.round((now - new Date(value).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A 0..1 score as a percentage. */
export function percent(score) {
  return `${Math.round(score * 100)} %`;
}

/** The name of an evidence file from its URL (…/evidence/<name>), null once removed. */
export function evidenceName(item) {
  if (!item?.url) return null;
  const path = new URL(item.url, location.href).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
}

/** A message line (kind: "error" or "ok") that replaces the previous one in ``box``. */
export function say(box, kind, text) {
  box.replaceChildren(text);
  box.className = `message ${kind}`;
  box.hidden = !text;
}
