// The console's languages: message catalogues (i18n/<language>.json, one per language, looked
// up by dotted key), plurals with Intl.PluralRules, numbers, dates and relative times with the
// Intl formatters, all dates in the site's time zone. The chosen language sticks (localStorage);
// without a choice, the browser's preferred languages decide.

export const LANGUAGES = ["zh-CN", "en"];
const FALLBACK = "en";
const KEY = "sitewatch.language";

let language = FALLBACK;
let catalogue = {};
let timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const formatters = new Map();

/** The language to use: the stored choice, else the first browser language we have. */
export function chooseLanguage(stored = localStorage.getItem(KEY), wanted = navigator.languages ?? []) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of wanted) {
    const lower = tag.toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return FALLBACK;
}

/** Remembers ``lang`` as this browser's choice. */
export function storeLanguage(lang) {
  localStorage.setItem(KEY, lang);
}

/** Loads the catalogue of ``lang`` and makes it current (sets <html lang>). */
export async function loadLanguage(lang) {
  const response = await fetch(`i18n/${lang}.json`, { cache: "no-store" });
  if (!response.ok) throw new Error(`i18n/${lang}.json: ${response.status}`);
  catalogue = await response.json();
  language = lang;
  formatters.clear();
  document.documentElement.lang = lang;
  return lang;
}

export function currentLanguage() {
  return language;
}

/** Dates and times are shown in this IANA zone (the site's ``site.timezone``). */
export function setTimeZone(zone) {
  if (!zone) return;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
  } catch {
    return; // unknown to this browser: keep the browser's zone
  }
  timeZone = zone;
  formatters.clear();
}

export function currentTimeZone() {
  return timeZone;
}

function lookup(key) {
  let node = catalogue;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object" || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}

/** True when the catalogue has a message for ``key``. */
export function has(key) {
  const found = lookup(key);
  return typeof found === "string" || (found !== null && typeof found === "object" && "other" in found);
}

function formatter(kind, options) {
  const id = `${kind}|${JSON.stringify(options)}`;
  if (!formatters.has(id)) {
    const make = {
      number: () => new Intl.NumberFormat(language, options),
      plural: () => new Intl.PluralRules(language, options),
      date: () => new Intl.DateTimeFormat(language, { timeZone, ...options }),
      relative: () => new Intl.RelativeTimeFormat(language, options),
      list: () => new Intl.ListFormat(language, options),
    }[kind];
    formatters.set(id, make());
  }
  return formatters.get(id);
}

function fillIn(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in params)) return whole;
    const value = params[name];
    return typeof value === "number" ? formatter("number", {}).format(value) : String(value ?? "");
  });
}

/**
 * The message ``key`` with ``{name}`` filled from ``params``. A message that is an object of
 * plural forms ({"one": …, "other": …}) is chosen by ``params.count``. A key missing from the
 * catalogue shows as the key itself (the catalogue test finds those before anyone does).
 */
export function t(key, params = {}) {
  let found = lookup(key);
  if (found !== null && typeof found === "object" && "other" in found) {
    const category = formatter("plural", {}).select(Number(params.count ?? 0));
    found = found[category] ?? found.other;
  }
  if (typeof found !== "string") return key;
  return fillIn(found, params);
}

/** The message of a domain word (``hazard``, ``state``…), the raw word when unknown. */
export function word(kind, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `${kind}.${value}`;
  return has(key) ? t(key) : String(value).replaceAll("_", " ");
}

/** Fills the text of elements marked ``data-i18n="key"`` (and ``data-i18n-title``). */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  for (const node of root.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
}

function parts(date, options) {
  const found = {};
  for (const part of formatter("date", options).formatToParts(date)) found[part.type] = part.value;
  return found;
}

const CLOCK = { hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit" };
const DAY = { year: "numeric", month: "2-digit", day: "2-digit" };

function asDate(value) {
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Date and time in the site's zone, 24 h: 2026-11-03 14:05:09 ("—" for none). */
export function formatDateTime(value) {
  if (value === null || value === undefined) return "—";
  const d = asDate(value);
  if (d === null) return String(value);
  const p = parts(d, { ...DAY, ...CLOCK });
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** The time of day in the site's zone: 14:05:09. */
export function formatTime(value) {
  const d = asDate(value);
  if (d === null) return "—";
  const p = parts(d, CLOCK);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** The calendar day (YYYY-MM-DD) of an instant in the site's zone. */
export function dayOf(value) {
  const p = parts(asDate(value), DAY);
  return `${p.year}-${p.month}-${p.day}`;
}

/** The site's zone as shown: "Asia/Shanghai (UTC+08:00)". */
export function zoneLabel(at = new Date()) {
  const offset = offsetMinutes(at.getTime());
  const sign = offset < 0 ? "-" : "+";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${timeZone} (UTC${sign}${pad(offset / 60)}:${pad(Math.abs(offset) % 60)})`;
}

/** Minutes the site's zone is ahead of UTC at the instant ``ms``. */
export function offsetMinutes(ms) {
  const p = parts(new Date(ms), { ...DAY, ...CLOCK });
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** "YYYY-MM-DDTHH:MM" (a datetime-local input) read in the site's zone, as a Date. */
export function fromSiteLocal(text) {
  const [date, time] = text.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  let instant = guess - offsetMinutes(guess) * 60_000;
  instant = guess - offsetMinutes(instant) * 60_000; // the offset at the answer (DST edges)
  return new Date(instant);
}

/** A Date as "YYYY-MM-DDTHH:MM" in the site's zone (for datetime-local inputs). */
export function toSiteLocal(date) {
  const p = parts(date, { ...DAY, ...CLOCK });
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/** A weekday's short name of a YYYY-MM-DD day. */
export function weekday(isoDay) {
  const [y, m, d] = isoDay.split("-").map(Number);
  return new Intl.DateTimeFormat(language, { weekday: "short", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, m - 1, d, 12)),
  );
}

/** How long ago, in words: "3 min ago", "3分钟前". */
export function formatAgo(value, now = Date.now()) {
  if (!value) return "";
  const d = asDate(value);
  if (d === null) return "";
  const seconds = Math.max(0, Math.round((now - d.getTime()) / 1000));
  const relative = formatter("relative", { numeric: "always", style: "short" });
  if (seconds < 60) return relative.format(-seconds, "second");
  if (seconds < 3600) return relative.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return relative.format(-Math.floor(seconds / 3600), "hour");
  return relative.format(-Math.floor(seconds / 86400), "day");
}

/** A duration in seconds, short: "4 min", "2 hr" (the age of an alert). */
export function formatDuration(seconds) {
  const unit = (value, name) =>
    formatter("number", { style: "unit", unit: name, unitDisplay: "short", maximumFractionDigits: 0 }).format(value);
  if (seconds < 60) return unit(Math.max(0, Math.floor(seconds)), "second");
  if (seconds < 3600) return unit(Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return unit(Math.floor(seconds / 3600), "hour");
  return unit(Math.floor(seconds / 86400), "day");
}

/** A 0..1 share as a percentage: "91%". */
export function formatPercent(share) {
  return formatter("number", { style: "percent", maximumFractionDigits: 0 }).format(share);
}

/** A number in the current language. */
export function formatNumber(value, options = {}) {
  return formatter("number", options).format(value);
}

/** Items joined as a list in the current language ("a, b and c", "a、b和c"). */
export function formatList(items) {
  return formatter("list", { style: "long", type: "conjunction" }).format(items);
}

// Fills every language switch (``select.language-choice``) and reloads the page in the chosen
// language, which then sticks (both consoles, the node's and the fleet hub's).
export function languageChoices() {
  for (const select of document.querySelectorAll(".language-choice")) {
    select.replaceChildren(
      ...LANGUAGES.map((lang) => {
        const option = document.createElement("option");
        option.value = lang;
        option.textContent = t(`app.languages.${lang}`);
        option.selected = lang === currentLanguage();
        return option;
      }),
    );
    select.addEventListener("change", () => {
      storeLanguage(select.value);
      location.reload(); // every view is drawn again in the new language
    });
  }
}
