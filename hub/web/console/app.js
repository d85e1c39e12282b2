// The central console: sign-in, the views across sites (alerts with grid and site filters,
// one alert with its evidence and case (#/alerts/<id>), the supervised list as a board,
// per-grid charts) behind hash routes, in zh-CN or en. It
// imports the edge console's modules (api.js, dom.js, i18n.js) as they are; every answer of
// the hub API is already filtered to the token's scope.

import { describeError, getJson, onUnauthorized, storeToken, storedToken, whoIs } from "./api.js";
import { signInHandler } from "./sign-in.js";
import { mountAlert } from "./alert.js";
import { mountBoard } from "./board.js";
import { say } from "./dom.js";
import { mountAlerts } from "./fleet.js";
import { mountCharts } from "./grid-charts.js";
import {
  chooseLanguage,
  formatTime,
  languageChoices,
  loadLanguage,
  t,
  translatePage,
  word,
} from "./i18n.js";

const $ = (id) => document.getElementById(id);
let context = null; // {me, grids, sites, words}
let unmount = () => {};

function showLogin(reason) {
  unmount();
  unmount = () => {};
  context = null;
  $("app").hidden = true;
  $("login").hidden = false;
  say($("login-error"), "error", reason);
  $("token").focus();
}

/** The scope of the token in words: every grid, one grid, one site. */
function scopeText(me, grids, sites) {
  const [kind, id] = me.scope.split(":");
  if (kind === "grid") return t("scope.grid", { name: grids.find((g) => g.grid === id)?.name ?? id });
  if (kind === "site") return t("scope.site", { name: sites.find((s) => s.site === id)?.name ?? id });
  return t("scope.street");
}

async function enter(me) {
  const [grids, sites, words] = await Promise.all([
    getJson("/api/grids"),
    getJson("/api/sites"),
    getJson("vocabulary.json"),
  ]);
  context = { me, grids, sites, words };
  $("login").hidden = true;
  $("app").hidden = false;
  $("centre").textContent = me.street_office;
  $("scope").textContent = scopeText(me, grids, sites);
  $("who").textContent = t("app.who", { name: me.name, role: word("role", me.role) });
  tick();
  route();
}

const VIEWS = {
  alerts: (view, params, id) => (id ? mountAlert(view, context, id) : mountAlerts(view, context, params)),
  board: (view) => mountBoard(view, context),
  charts: (view, params) => mountCharts(view, context, params),
};

function route() {
  if (context === null) return;
  const [path, query] = (location.hash || "#/alerts").slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  let name = parts[0] ?? "alerts";
  if (!(name in VIEWS)) name = "alerts";
  const id = name === "alerts" && parts[1] ? decodeURIComponent(parts[1]) : null;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  unmount();
  const view = $("view");
  view.replaceChildren();
  unmount = VIEWS[name](view, new URLSearchParams(query ?? ""), id);
  window.scrollTo(0, 0);
}

function tick() {
  $("clock").textContent = formatTime(Date.now() / 1000);
}

async function start() {
  await loadLanguage(chooseLanguage());
  document.title = t("app.hubTitle");
  translatePage();
  languageChoices();
  $("login-form").addEventListener("submit", signInHandler(enter));
  $("sign-out").addEventListener("click", () => {
    storeToken(null);
    showLogin("");
  });
  window.addEventListener("hashchange", route);
  onUnauthorized((error) => {
    storeToken(null);
    showLogin(t("login.signedOut", { reason: describeError(error) }));
  });
  setInterval(tick, 1000);
  const token = storedToken();
  if (!token) {
    showLogin("");
    return;
  }
  try {
    await enter(await whoIs(token));
  } catch (error) {
    storeToken(null);
    showLogin(t("login.signedOut", { reason: describeError(error) }));
  }
}

start();
