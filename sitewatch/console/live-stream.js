// The live picture of cameras (GET /api/live): one multipart/x-mixed-replace response per
// viewer for all the cameras it shows, read with fetch() (it carries the token). Each part is a
// JPEG (or nothing, when only the state or the frame's age changed) with an ``X-Overlay``
// header: what the detector and the rules see on that frame, as JSON. The picture is drawn on
// a canvas and the boxes, zones and the exit check's blocked share on top, in the browser.

import { request } from "./api.js";
import { formatPercent, t, word } from "./i18n.js";

const RETRY_MS = 2000;
export const ZONE_COLOURS = {
  exit: "#30d158",
  hardhat_required: "#ffd60a",
  flame_allowed: "#64d2ff",
  ignore: "#8e8e93",
};
export const BOX_COLOURS = { fire: "#ff453a", smoke: "#bf5af2", head: "#ff9f0a", helmet: "#34c759", person: "#4cc2ff" };
const OTHER_BOX = "#f2f5f8";

function indexOf(haystack, needle, from) {
  outer: for (let i = from; i <= haystack.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a, b) {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

/** Reads the parts of a multipart body: calls ``onPart({headers, body})`` for each. */
export async function readParts(body, onPart) {
  const reader = body.getReader();
  const decoder = new TextDecoder("ascii");
  const blank = new TextEncoder().encode("\r\n\r\n");
  let buffer = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = concat(buffer, value);
    for (;;) {
      const end = indexOf(buffer, blank, 0);
      if (end < 0) break;
      const lines = decoder.decode(buffer.subarray(0, end)).split("\r\n");
      const headers = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers["content-length"] ?? 0);
      const start = end + blank.length;
      if (buffer.length < start + length) break; // the picture is not all here yet
      onPart({ headers, body: buffer.slice(start, start + length) });
      buffer = buffer.slice(start + length);
    }
  }
}

/**
 * Live parts of ``cameras`` at ``fps`` frames per second, ``width`` pixels wide (the server
 * scales and encodes each frame once for every viewer of that size). ``onFrame(camera, overlay,
 * blob | null)``; ``onStatus("live" | "reconnecting", reason)``. ``stop()`` ends it.
 */
export function watch({ cameras, fps, width, onFrame, onStatus = () => {} }) {
  const abort = new AbortController();
  const query = new URLSearchParams({ fps: String(fps), width: String(width) });
  for (const camera of cameras) query.append("camera", camera);
  async function run() {
    while (!abort.signal.aborted) {
      try {
        const response = await request(`/api/live?${query}`, { signal: abort.signal });
        onStatus("live", "");
        await readParts(response.body, ({ headers, body }) => {
          const overlay = JSON.parse(headers["x-overlay"] ?? "{}");
          const blob = body.length ? new Blob([body], { type: "image/jpeg" }) : null;
          onFrame(overlay.camera, overlay, blob);
        });
      } catch (error) {
        if (abort.signal.aborted) return;
        onStatus("reconnecting", error.message);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
  run();
  return { stop: () => abort.abort() };
}

/** Draws one zone outline with its name (and, for exits, the blocked share). */
function drawZone(ctx, zone, exit, w, h, scale) {
  const colour = ZONE_COLOURS[zone.kind] ?? OTHER_BOX;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.fillStyle = `${colour}22`;
  ctx.lineWidth = 2 * scale;
  ctx.setLineDash(zone.kind === "ignore" ? [8 * scale, 6 * scale] : []);
  ctx.beginPath();
  zone.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
  const [x0, y0] = zone.points.reduce(([ax, ay], [x, y]) => [Math.min(ax, x), Math.min(ay, y)], [1, 1]);
  let label = `${zone.name} · ${word("zoneKind", zone.kind)}`;
  if (exit && exit.blocked_fraction !== null) label += ` · ${t("live.blocked", { share: formatPercent(exit.blocked_fraction) })}`;
  else if (exit) label += ` · ${word("exitReason", exit.reason)}`;
  tag(ctx, label, x0 * w, y0 * h, colour, scale);
  ctx.restore();
}

function tag(ctx, text, x, y, colour, scale) {
  ctx.font = `${Math.round(14 * scale)}px "Noto Sans CJK SC", "Noto Sans", sans-serif`;
  const height = Math.round(18 * scale);
  const width = ctx.measureText(text).width + 8 * scale;
  const top = Math.max(0, y - height);
  ctx.fillStyle = colour;
  ctx.fillRect(x, top, width, height);
  ctx.fillStyle = "#000";
  ctx.textBaseline = "middle";
  ctx.fillText(text, x + 4 * scale, top + height / 2);
}

/** Draws ``bitmap`` (or keeps the last picture) and what ``overlay`` says on ``canvas``. */
export function drawLive(canvas, bitmap, overlay) {
  if (bitmap) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  const ctx = canvas.getContext("2d");
  const w = canvas.width;
  const h = canvas.height;
  if (bitmap) ctx.drawImage(bitmap, 0, 0);
  const scale = Math.max(0.6, w / 960);
  const exits = Object.fromEntries((overlay.exits ?? []).map((e) => [e.zone, e]));
  for (const zone of overlay.zones ?? []) drawZone(ctx, zone, exits[zone.name], w, h, scale);
  for (const box of overlay.detections ?? []) {
    const [x1, y1, x2, y2] = box.box;
    const colour = BOX_COLOURS[box.class] ?? OTHER_BOX;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 3 * scale;
    ctx.setLineDash([]);
    ctx.strokeRect(x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h);
    tag(ctx, `${word("class", box.class)} ${formatPercent(box.score)}`, x1 * w, y1 * h, colour, scale);
  }
}
