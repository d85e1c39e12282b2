// The console: sign-in, the views (alert feed, one alert, cameras, 14-day chart) behind hash
// routes, one shared live event stream.

import { EventStream, getJson, onUnauthorized, storeToken, storedToken, whoIs } from "./api.js";
import { mountAlert } from "./alert.js";
import { mountCameras } from "./cameras.js";
import { mountChart } from "./chart.js";
import { say, when } from "./dom.js";
import { mountFeed } from "./feed.js";

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
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `${me.name} · ${me.role}`;
  $("sign-out").hidden = me.open_access;
  stream.start();
  route();
  try {
    const health = await getJson("/api/health");
    context.site = health.site ?? "";
    $("site").textContent = context.site;
  } catch {
    // the header can do without the site name
  }
}

function route() {
  if (context === null) return;
  const hash = location.hash || "#/feed";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query ?? "");
  unmount();
  const view = $("view");
  view.replaceChildren();
  const name = parts[0] ?? "feed";
  for (const link of document.querySelectorAll("nav a")) {
    const current = link.dataset.view === (name === "alert" ? "feed" : name);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name === "alert" && parts[1]) unmount = mountAlert(view, context, decodeURIComponent(parts[1]));
  else if (name === "cameras") unmount = mountCameras(view, context);
  else if (name === "chart") unmount = mountChart(view, context);
  else unmount = mountFeed(view, context, params);
  window.scrollTo(0, 0);
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  const button = $("sign-in");
  button.disabled = true;
  try {
    const me = await whoIs(token);
    storeToken(token);
    $("token").value = "";
    await enter(me);
  } catch (error) {
    say($("login-error"), "error", `Not signed in: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  storeToken(null);
  showLogin("");
}

function tick() {
  $("clock").textContent = when(Date.now() / 1000).slice(11);
}

async function start() {
  $("login-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  stream.onStatus((state, why) => {
    const live = $("live");
    live.textContent = state === "live" ? "● LIVE" : state === "reconnecting" ? "reconnecting…" : "connecting…";
    live.className = `live is-${state}`;
    live.title = why;
  });
  onUnauthorized((reason) => {
    storeToken(null);
    showLogin(`Signed out: ${reason}`);
  });
  tick();
  setInterval(tick, 1000);
  const token = storedToken();
  try {
    await enter(await whoIs(token)); // no token: works only when the API is open (demo)
  } catch (error) {
    if (token) storeToken(null);
    showLogin(token ? `Signed out: ${error.message}` : "");
  }
}

start();
