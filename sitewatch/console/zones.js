// The zone editor of one camera: its latest picture with the zones drawn on it; an admin draws
// new polygons corner by corner, drags a corner or a whole zone, deletes one, picks its kind
// (only those this site can use) and obstacle classes, and saves with the version it read
// (409: someone saved meanwhile). The API checks the zones with the configuration's rules and
// its refusal is shown in the user's language. The clear-exit reference is captured here too.

import { ApiError, blobUrl, describeError, getJson, postJson, putJson } from "./api.js";
import { h, say, when } from "./dom.js";
import { t, word } from "./i18n.js";
import { ZONE_COLOURS } from "./live-stream.js";

const HANDLE_PX = 12;
const clamp = (v) => Math.min(1, Math.max(0, v));
const round = (v) => Math.round(v * 10000) / 10000;

export function mountZones(view, context, camera) {
  const abort = new AbortController();
  const admin = context.me.role === "admin";
  const base = `/api/cameras/${encodeURIComponent(camera)}`;
  const state = { version: 0, zones: [], kinds: [], classes: [], selected: -1, drawing: null, dirty: false };
  let picture = null; // ImageBitmap of the latest frame
  let drag = null; // {zone, corner | null, from: [x, y], points}

  const canvas = h("canvas", { id: "zone-canvas", class: "zone-canvas", width: 1280, height: 720 });
  const message = h("p", { class: "message", role: "alert", id: "zone-message", hidden: true });
  const info = h("p", { class: "muted", id: "zone-version" });
  const list = h("ul", { class: "zone-list", id: "zone-list" });
  const form = h("div", { class: "zone-form", id: "zone-form" });
  const buttons = h(
    "div",
    { class: "buttons" },
    h("button", { type: "button", id: "zone-new", onclick: startDrawing }, t("zones.newZone")),
    h("button", { type: "button", id: "zone-finish", onclick: finishDrawing, hidden: true }, t("zones.finish")),
    h("button", { type: "button", id: "zone-delete", onclick: deleteSelected }, t("zones.delete")),
    h("button", { type: "button", id: "zone-save", class: "primary", onclick: save }, t("zones.save")),
    h("button", { type: "button", id: "zone-reload", class: "quiet", onclick: load }, t("zones.reload")),
  );
  const referenceInfo = h("p", { class: "muted", id: "reference-at" });
  const reference = h(
    "section",
    { class: "reference" },
    h("h2", {}, t("zones.reference")),
    h("p", { class: "muted" }, t("zones.referenceHelp")),
    referenceInfo,
    h("button", { type: "button", id: "reference-capture", onclick: capture }, t("zones.capture")),
  );
  view.append(
    h(
      "section",
      { class: "zones-view" },
      h("a", { href: `#/cameras/${encodeURIComponent(camera)}`, class: "back" }, t("zones.back")),
      h("h1", {}, t("zones.title", { camera })),
      h("p", { class: "muted" }, admin ? t("zones.help") : t("zones.readOnly")),
      message,
      h(
        "div",
        { class: "zones-grid" },
        h("div", { class: "frame-box" }, canvas),
        h("aside", {}, info, admin ? buttons : null, h("h2", {}, t("zones.list")), list, form, admin ? reference : null),
      ),
    ),
  );

  function px(point) {
    return [point[0] * canvas.width, point[1] * canvas.height];
  }

  function eventPoint(event) {
    const box = canvas.getBoundingClientRect();
    return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    if (picture) ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
    else {
      ctx.fillStyle = "#1d2530";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    const shapes = state.zones.map((zone, index) => ({ zone, index }));
    if (state.drawing) shapes.push({ zone: state.drawing, index: -2 });
    for (const { zone, index } of shapes) {
      const colour = ZONE_COLOURS[zone.kind] ?? "#f2f5f8";
      const selected = index === state.selected || index === -2;
      ctx.strokeStyle = colour;
      ctx.fillStyle = `${colour}${selected ? "44" : "22"}`;
      ctx.lineWidth = selected ? 4 : 2;
      ctx.beginPath();
      zone.points.forEach((p, i) => {
        const [x, y] = px(p);
        if (i) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      });
      if (index !== -2) ctx.closePath();
      ctx.fill();
      ctx.stroke();
      if (selected) {
        ctx.fillStyle = colour;
        for (const p of zone.points) {
          const [x, y] = px(p);
          ctx.fillRect(x - HANDLE_PX / 2, y - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX);
        }
      }
      if (zone.points.length) {
        const [x, y] = px(zone.points[0]);
        ctx.font = '22px "Noto Sans CJK SC", "Noto Sans", sans-serif';
        ctx.fillStyle = colour;
        ctx.fillText(`${zone.name} · ${word("zoneKind", zone.kind)}`, x + 8, y - 8);
      }
    }
  }

  function changed() {
    state.dirty = true;
    info.textContent = `${t("zones.version", { version: state.version })} · ${t("zones.unsaved")}`;
    render();
  }

  function renderList() {
    list.replaceChildren(
      ...state.zones.map((zone, index) =>
        h(
          "li",
          { class: index === state.selected ? "selected" : "", dataset: { zone: zone.name, kind: zone.kind } },
          h(
            "button",
            { type: "button", class: "quiet", onclick: () => select(index) },
            `${zone.name} · ${word("zoneKind", zone.kind)} · ${t("zones.points", { count: zone.points.length })}`,
          ),
        ),
      ),
    );
  }

  function renderForm() {
    const zone = state.zones[state.selected];
    if (!zone || !admin) {
      form.replaceChildren();
      return;
    }
    const name = h("input", { id: "zone-name", value: zone.name, maxlength: 63, autocomplete: "off" });
    name.addEventListener("input", () => {
      zone.name = name.value.trim();
      changed();
    });
    const kinds = new Set([...state.kinds, zone.kind]);
    const kind = h(
      "select",
      { id: "zone-kind" },
      [...kinds].map((k) => h("option", { value: k, selected: k === zone.kind }, word("zoneKind", k))),
    );
    kind.addEventListener("change", () => {
      zone.kind = kind.value;
      if (zone.kind !== "exit") zone.obstacle_classes = [];
      changed();
    });
    const obstacles =
      zone.kind === "exit" && state.classes.length
        ? h(
            "fieldset",
            { id: "zone-obstacles" },
            h("legend", {}, t("zones.obstacles")),
            state.classes.map((c) => {
              const box = h("input", { type: "checkbox", value: c, checked: zone.obstacle_classes.includes(c) });
              box.addEventListener("change", () => {
                zone.obstacle_classes = box.checked
                  ? [...zone.obstacle_classes, c]
                  : zone.obstacle_classes.filter((x) => x !== c);
                changed();
              });
              return h("label", {}, box, ` ${word("class", c)}`);
            }),
          )
        : null;
    form.replaceChildren(
      h("label", { class: "field" }, h("span", {}, t("zones.name")), name),
      h("label", { class: "field" }, h("span", {}, t("zones.kind")), kind),
      ...(obstacles ? [obstacles] : []),
    );
  }

  function render() {
    draw();
    renderList();
    if (!document.activeElement || !form.contains(document.activeElement)) renderForm();
    const drawing = state.drawing !== null;
    view.querySelector("#zone-finish")?.toggleAttribute("hidden", !drawing);
    view.querySelector("#zone-new")?.toggleAttribute("hidden", drawing);
    if (drawing) info.textContent = t("zones.drawing", { count: state.drawing.points.length });
  }

  function select(index) {
    state.selected = index;
    renderForm();
    render();
  }

  function freeName() {
    const kind = state.kinds.includes("exit") ? "exit" : state.kinds[0];
    for (let n = state.zones.length + 1; ; n += 1) {
      const name = `${kind.replaceAll("_", "-")}-${n}`;
      if (!state.zones.some((z) => z.name === name)) return [name, kind];
    }
  }

  function startDrawing() {
    const [name, kind] = freeName();
    state.drawing = { name, kind, points: [], obstacle_classes: [] };
    state.selected = -1;
    render();
  }

  function finishDrawing() {
    if (!state.drawing) return;
    state.zones.push(state.drawing);
    state.selected = state.zones.length - 1;
    state.drawing = null;
    renderForm();
    changed();
  }

  function deleteSelected() {
    if (state.selected < 0) return;
    state.zones.splice(state.selected, 1);
    state.selected = -1;
    renderForm();
    changed();
  }

  function near(a, b) {
    const [ax, ay] = px(a);
    const [bx, by] = px(b);
    const box = canvas.getBoundingClientRect();
    const perPixel = canvas.width / box.width; // canvas units per screen pixel
    return Math.hypot(ax - bx, ay - by) <= HANDLE_PX * perPixel;
  }

  function inside(point, polygon) {
    let hit = false;
    for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i, i += 1) {
      const [xi, yi] = polygon[i];
      const [xj, yj] = polygon[j];
      if (yi > point[1] !== yj > point[1] && point[0] < ((xj - xi) * (point[1] - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (!admin) return;
    const point = eventPoint(event);
    if (state.drawing) {
      state.drawing.points.push(point.map(round));
      render();
      return;
    }
    const zone = state.zones[state.selected];
    const corner = zone ? zone.points.findIndex((p) => near(p, point)) : -1;
    if (zone && corner >= 0) drag = { zone, corner, from: point, points: zone.points.map((p) => [...p]) };
    else {
      const hit = state.zones.findIndex((z) => inside(point, z.points));
      if (hit >= 0) {
        select(hit);
        const chosen = state.zones[hit];
        drag = { zone: chosen, corner: null, from: point, points: chosen.points.map((p) => [...p]) };
      }
    }
    if (drag) canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const point = eventPoint(event);
    const dx = point[0] - drag.from[0];
    const dy = point[1] - drag.from[1];
    if (drag.corner !== null) drag.zone.points[drag.corner] = point.map(round);
    else drag.zone.points = drag.points.map(([x, y]) => [round(clamp(x + dx)), round(clamp(y + dy))]);
    draw();
  });
  canvas.addEventListener("pointerup", () => {
    if (!drag) return;
    const moved = drag.zone.points.some((p, i) => p[0] !== drag.points[i][0] || p[1] !== drag.points[i][1]);
    drag = null;
    if (moved) changed();
  });

  function showVersion(doc) {
    const source =
      doc.source === "file"
        ? t("zones.source.file", { by: doc.updated_by, at: when(doc.updated_at) })
        : t("zones.source.config");
    info.textContent = `${t("zones.version", { version: doc.version })} · ${source}`;
    referenceInfo.textContent = doc.reference_at ? t("zones.referenceAt", { at: when(doc.reference_at) }) : t("zones.noReference");
  }

  function take(doc) {
    state.version = doc.version;
    state.zones = doc.zones.map((z) => ({ name: z.name, kind: z.kind, points: z.points, obstacle_classes: z.obstacle_classes ?? [] }));
    state.kinds = doc.kinds;
    state.classes = doc.classes;
    state.selected = -1;
    state.drawing = null;
    state.dirty = false;
    view.querySelector(".zones-view").dataset.version = String(doc.version);
    showVersion(doc);
    renderForm();
    render();
  }

  async function load() {
    say(message, "ok", "");
    try {
      take(await getJson(`${base}/zones`, { signal: abort.signal }));
    } catch (error) {
      if (!abort.signal.aborted) say(message, "error", t("zones.loadFailed", { reason: describeError(error) }));
      return;
    }
    try {
      const url = await blobUrl(`${base}/frame`, abort.signal);
      const blob = await (await fetch(url)).blob();
      URL.revokeObjectURL(url);
      picture = await createImageBitmap(blob);
      canvas.width = picture.width;
      canvas.height = picture.height;
      render();
    } catch (error) {
      if (!abort.signal.aborted && error instanceof ApiError) say(message, "error", t("zones.noFrame"));
    }
  }

  async function save() {
    if (state.drawing) finishDrawing();
    try {
      const body = {
        version: state.version,
        zones: state.zones.map((z) => ({ name: z.name, kind: z.kind, points: z.points, obstacle_classes: z.obstacle_classes })),
      };
      take(await putJson(`${base}/zones`, body));
      say(message, "ok", t("zones.saved", { version: state.version }));
    } catch (error) {
      say(message, "error", t("zones.failed", { reason: describeError(error) }));
      message.dataset.code = error instanceof ApiError ? error.code ?? "" : "";
    }
  }

  async function capture() {
    try {
      const answer = await postJson(`${base}/reference`, {});
      say(message, "ok", t("zones.captured", { at: when(answer.reference_at) }));
      referenceInfo.textContent = t("zones.referenceAt", { at: when(answer.reference_at) });
    } catch (error) {
      say(message, "error", describeError(error));
    }
  }

  window.addEventListener("keydown", onKey);
  function onKey(event) {
    if (event.key === "Enter" && state.drawing && event.target === document.body) finishDrawing();
    if (event.key === "Escape" && state.drawing) {
      state.drawing = null;
      render();
    }
  }

  load();
  return () => {
    abort.abort();
    window.removeEventListener("keydown", onKey);
    picture?.close();
  };
}
