// The console: sign-in, the views (alert feed, one alert, duty desk, shift handover, cameras
// live, a camera's zones, 14-day chart) behind hash routes, one shared live event stream, and
// the language (zh-CN or en, the choice sticks) of every word shown.

import { EventStream, describeError, getJson, onUnauthorized, storeToken, storedToken, whoIs } from "./api.js";
import { signInHandler } from "./sign-in.js";
import { mountAlert } from "./alert.js";
import { mountCameras } from "./cameras.js";
import { mountChart } from "./chart.js";
import { say } from "./dom.js";
import { mountDuty } from "./duty.js";
import { mountFeed } from "./feed.js";
import { mountHandover } from "./handover.js";
import {
  chooseLanguage,
  formatTime,
  languageChoices,
  loadLanguage,
  setTimeZone,
  t,
  translatePage,
  word,
  zoneLabel,
} from "./i18n.js";
import { mountLive } from "./live.js";
import { mountZones } from "./zones.js";

const $ = (id) => document.getElementById(id);
const stream = new EventStream();
let context = null; // {me, rules, stream, site}
let unmount = () => {};

function showLogin(reason) {
  stream.stop();
  unmount();
  unmount = () => {};
  context = null;
  $("app").hidden = true;
  $("login").hidden = false;
  say($("login-error"), "error", reason ?? "");
  $("token").focus();
}

async function enter(me) {
  const rules = await (await fetch("rules.json", { cache: "no-store" })).json();
  context = { me, rules, stream, site: "" };
  try {
    const health = await getJson("/api/health");
    context.site = health.site ?? "";
    setTimeZone(health.timezone);
    $("site").textContent = health.site_name || context.site;
  } catch {
    // the header can do without the site name; times stay in the browser's zone
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = t("app.who", { name: me.name, role: word("role", me.role) });
  $("sign-out").hidden = me.open_access;
  $("clock").title = zoneLabel();
  tick();
  stream.start();
  route();
}

const VIEWS = {
  feed: (view, params) => mountFeed(view, context, params),
  alert: (view, params, id) => mountAlert(view, context, id),
  duty: (view) => mountDuty(view, context),
  handover: (view, params) => mountHandover(view, context, params),
  cameras: (view, params, name) => (name ? mountLive(view, context, name) : mountCameras(view, context)),
  zones: (view, params, name) => mountZones(view, context, name),
  chart: (view) => mountChart(view, context),
};
const NAV = { alert: "feed", handover: "duty", zones: "cameras" };

function route() {
  if (context === null) return;
  const hash = location.hash || "#/feed";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query ?? "");
  unmount();
  const view = $("view");
  view.replaceChildren();
  let name = parts[0] ?? "feed";
  const id = parts[1] ? decodeURIComponent(parts[1]) : null;
  if (!(name in VIEWS) || ((name === "alert" || name === "zones") && !id)) name = "feed";
  for (const link of document.querySelectorAll("nav a")) {
    const current = link.dataset.view === (NAV[name] ?? name);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  unmount = VIEWS[name](view, params, id);
  window.scrollTo(0, 0);
}

function signOut() {
  storeToken(null);
  showLogin("");
}

function tick() {
  $("clock").textContent = formatTime(Date.now() / 1000);
}

function showStatus(state, why) {
  const live = $("live");
  live.textContent = t(`app.stream.${state}`);
  live.className = `live is-${state}`;
  live.title = why;
}

async function start() {
  await loadLanguage(chooseLanguage());
  document.title = t("app.title");
  translatePage();
  languageChoices();
  $("login-form").addEventListener("submit", signInHandler(enter));
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  stream.onStatus(showStatus);
  onUnauthorized((error) => {
    storeToken(null);
    showLogin(t("login.signedOut", { reason: describeError(error) }));
  });
  tick();
  setInterval(tick, 1000);
  const token = storedToken();
  try {
    await enter(await whoIs(token)); // no token: works only when the API is open (demo)
  } catch (error) {
    if (token) storeToken(null);
    showLogin(token ? t("login.signedOut", { reason: describeError(error) }) : "");
  }
}

start();
