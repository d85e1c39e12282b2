// Small DOM helpers: elements built from data never go through innerHTML; the names of the
// domain words and the formats of dates and scores (in the current language, see i18n.js).

import { formatAgo, formatDateTime, formatPercent, t, word } from "./i18n.js";

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

/** A hazard's name for people. */
export function hazardLabel(hazard) {
  return word("hazard", hazard);
}

/** A workflow state's name for people. */
export function stateLabel(state) {
  return word("state", state);
}

/** The zone name of incidents tied to no drawn zone (core.vocabulary.WHOLE_FRAME). */
export const WHOLE_FRAME = "frame";

/** A zone's name for people (the whole picture has a name in each language). */
export function zoneName(zone) {
  return zone === WHOLE_FRAME ? t("zone.wholeFrame") : zone;
}

/** A severity's name for people. */
export function severityLabel(severity) {
  return word("severity", severity);
}

/** Date and time in the site's zone, 24 h: 2026-11-03 14:05:09. */
export const when = formatDateTime;

/** How long ago: "45 s ago", "3分钟前". */
export const ago = formatAgo;

/** A 0..1 score as a percentage. */
export const percent = formatPercent;

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
