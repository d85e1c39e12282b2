// An alert's evidence: the snapshots (at the start, at the peak, the rectification photos) and
// the clip with its parts, each fetched with the token into a blob: URL and redrawn only when
// the evidence changed; and the upload of a rectification photo.

import { blobUrl, describeError, request } from "./api.js";
import { evidenceName, h } from "./dom.js";
import { t } from "./i18n.js";

/** Uploads a rectification photo (a File) for the alert at ``base``; its evidence name. */
export async function uploadPhoto(base, photo) {
  const response = await request(`${base}/case/photos`, {
    method: "POST",
    body: photo,
    contentType: photo.type,
  });
  return (await response.json()).name;
}

/** The media column of the alert at ``base``: ``node``, ``render(doc)`` with the alert's
 * document, ``close()`` when the view goes (revokes the blob: URLs). */
export function mediaPanel(base, signal) {
  const urls = { image: [], clip: [] }; // blob: URLs to revoke
  const signatures = { images: null, clip: null };
  let latest = null; // the document last rendered
  let clipPart = null; // the part being shown (null: the latest)

  const mainImage = h("div", { class: "main-image" });
  const extras = h("div", { class: "extras" });
  const clip = h("div", { class: "clip" });
  const node = h("div", { class: "media" }, mainImage, clip, extras);

  const evidenceUrl = (name) => `${base}/evidence/${encodeURIComponent(name)}`;

  function revoke(kind) {
    for (const url of urls[kind]) URL.revokeObjectURL(url);
    urls[kind] = [];
  }

  async function show(img, name) {
    try {
      const url = await blobUrl(evidenceUrl(name), signal);
      urls.image.push(url);
      img.src = url;
    } catch (error) {
      if (!signal.aborted) img.replaceWith(h("p", { class: "message error" }, t("media.imageFailed", { name, reason: describeError(error) })));
    }
  }

  function renderImages(doc) {
    const pick = (kind) => doc.evidence.filter((e) => e.kind === kind);
    const wanted = [
      ...(pick("snapshot_annotated").length ? pick("snapshot_annotated") : pick("snapshot")).map(
        (e) => [e, t("media.atStart")],
      ),
      ...pick("peak_annotated").map((e) => [e, t("media.atPeak")]),
      ...pick("rectification").map((e) => [e, t("media.rectification", { part: e.part })]),
    ];
    const signature = wanted.map(([e]) => `${e.sha256}:${Boolean(e.url)}`).join();
    if (signature === signatures.images) return;
    signatures.images = signature;
    revoke("image");
    mainImage.replaceChildren();
    extras.replaceChildren();
    if (wanted.length === 0) mainImage.append(h("p", { class: "muted" }, t("media.noSnapshot")));
    wanted.forEach(([item, caption], index) => {
      const name = evidenceName(item);
      const img = h("img", { alt: caption, id: index === 0 ? "snapshot" : null });
      const shown = name ? img : h("p", { class: "muted" }, t("media.imageRemoved"));
      const figure = h("figure", {}, shown, h("figcaption", {}, caption));
      (index === 0 ? mainImage : extras).append(figure);
      if (name) show(img, name);
    });
  }

  function partButtons(parts, current) {
    return h(
      "div",
      { class: "parts" },
      parts.map((e) =>
        h(
          "button",
          {
            type: "button",
            class: e === current ? "quiet current" : "quiet",
            onclick: () => {
              clipPart = e.part;
              renderClip(latest);
            },
          },
          t("media.partButton", { part: e.part }),
        ),
      ),
    );
  }

  function renderClip(doc) {
    const parts = doc.evidence.filter((e) => e.kind === "clip").sort((a, b) => a.part - b.part);
    const current = parts.find((e) => e.part === clipPart) ?? parts.at(-1);
    const signature = parts.map((e) => `${e.part}:${e.sha256}:${Boolean(e.url)}`).join() + `|${current?.part}`;
    if (signature === signatures.clip) return;
    signatures.clip = signature;
    revoke("clip");
    clip.replaceChildren();
    if (!current) {
      clip.append(h("p", { class: "muted" }, doc.active ? t("media.clipRecording") : t("media.noClip")));
      return;
    }
    const name = evidenceName(current);
    if (!name) {
      clip.append(h("p", { class: "muted" }, t("media.clipRemoved")));
      return;
    }
    const video = h("video", {
      id: "clip",
      controls: true,
      muted: true,
      autoplay: true,
      playsinline: true,
      preload: "auto",
    });
    video.muted = true; // the attribute alone does not mute a script-made element
    const caption = parts.length > 1 ? t("media.clipPart", { part: current.part, parts: parts.length }) : t("media.clip");
    clip.append(h("figure", {}, video, h("figcaption", {}, caption)));
    if (parts.length > 1) clip.append(partButtons(parts, current));
    blobUrl(evidenceUrl(name), signal)
      .then((url) => {
        urls.clip.push(url);
        video.src = url;
      })
      .catch((error) => {
        if (!signal.aborted) video.replaceWith(h("p", { class: "message error" }, t("media.clipFailed", { reason: describeError(error) })));
      });
  }

  return {
    node,
    render(doc) {
      latest = doc;
      renderImages(doc);
      renderClip(doc);
    },
    close() {
      revoke("image");
      revoke("clip");
    },
  };
}
