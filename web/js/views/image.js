// One image's own page, #/image/{id}: the one image viewer of the app (the feed, History and Gallery open it).
// The owner sees the image large (zoomable to full size), its prompt with Copy prompt, how it was made, its
// provenance, and what can be done with it; anyone else (a public gallery image) sees the public fields only.

import { api, url } from "../api.js";
import { catalog as loadCatalog } from "../catalog.js";
import { h, replace, formatDate, plural } from "../dom.js";
import { takeGalleryItem } from "../gallery-items.js";
import { handOff, tryHref } from "../handoff.js";
import { requestOf } from "../feed.js";
import { remember, remembered, scaled, upscaleTargets } from "../jobs.js";
import { signedIn } from "../session.js";

const DIGITAL_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/";

export async function render(root, ctx) {
  const id = ctx.args[0];
  const catalog = await loadCatalog().catch(() => null);
  let item = null;
  if (signedIn() && ctx.me) {
    try {
      item = await api.get(`/v1/media/${id}`);
    } catch (error) {
      if (error.status !== 404) throw error;
    }
  }
  if (item) return owner(root, ctx, item, catalog);
  return publicView(root, ctx, id, catalog);
}

function modelName(catalog, id) {
  const m = catalog && id ? catalog.model(id) : null;
  return m ? m.name : id || "";
}

function taskLabel(catalog, task) {
  const t = catalog && task ? catalog.task(task) : null;
  return t ? t.label : task || "";
}

function aspectOf(catalog, item, job) {
  if (job && job.aspect_ratio) return job.aspect_ratio;
  const m = catalog && item.model ? catalog.model(item.model) : null;
  const ratio = item.width / item.height;
  const known = m && m.aspect_ratios ? m.aspect_ratios.find((a) => Math.abs(a.width / a.height - ratio) < 0.01) : null;
  if (known) return known.aspect_ratio;
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);
  const g = gcd(item.width, item.height);
  return `${item.width / g}:${item.height / g}`;
}

function provenance(item) {
  if (item.kind !== "output") return "Uploaded by you";
  const composite = (item.digital_source_type || "").startsWith(`${DIGITAL_SOURCE}composite`);
  return `${composite ? "Changed with AI" : "Made with AI"} by Atelier${item.c2pa_manifest ? " · signed" : ""}`;
}

export function downloadName(item) {
  const words = (item.prompt || "image").toLowerCase().match(/[a-z0-9]+/g) || ["image"];
  const extension = (item.content_type || "image/webp").split("/")[1];
  return `atelier-${words.slice(0, 6).join("-")}-${item.id}.${extension}`;
}

function picture(src, alt, width, height) {
  const img = h("img", { src, alt, width, height, class: "fit" });
  const zoom = h("button", { type: "button", class: "small quiet", "aria-pressed": "false" }, "Full size");
  const frame = h("div", { class: "picture" }, img);
  const toggle = () => {
    const full = frame.classList.toggle("full");
    zoom.setAttribute("aria-pressed", String(full));
    img.classList.toggle("fit", !full);
  };
  zoom.addEventListener("click", toggle);
  img.addEventListener("click", toggle);
  return { frame, zoom };
}

function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows.filter(([, value]) => value !== null && value !== undefined && value !== "").map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

function promptBlock(ctx, text) {
  if (!text) return null;
  return h(
    "div",
    { class: "prompt-block" },
    h("h2", {}, "Prompt"),
    h("blockquote", { class: "prompt-text" }, text),
    h("button", { type: "button", class: "small quiet", onclick: async () => ctx.notify((await copyText(text)) ? "Prompt copied." : "Select the prompt and copy it.") }, "Copy prompt"),
  );
}

async function owner(root, ctx, item, catalog) {
  const name = item.prompt || (item.kind === "upload" ? "Uploaded image" : "Generated image");
  const job = item.job_id ? await api.get(`/v1/jobs/${item.job_id}`).catch(() => null) : null;
  const again = (item.job_id ? remembered(item.job_id).body : null) || (job && catalog ? requestOf(job, catalog) : null);
  const { frame, zoom } = picture(item.url, name, item.width, item.height);
  const status = h("p", { class: "error", role: "alert" });
  const isOutput = item.kind === "output";
  const spec = catalog && item.task ? catalog.task(item.task) : null;
  const seeded = isOutput && spec && spec.fields.has("seed") && item.seed !== null && item.seed !== undefined;
  const strength = job && job.strength && catalog ? catalog.strengths.find((x) => x.id === job.strength) : null;

  const gallerySwitch = h("input", { type: "checkbox", role: "switch", id: "image-public", checked: item.public, "aria-describedby": "image-public-help" });
  gallerySwitch.addEventListener("change", async () => {
    gallerySwitch.disabled = true;
    try {
      item = await api.patch(`/v1/media/${item.id}`, { public: gallerySwitch.checked });
      gallerySwitch.checked = item.public;
      galleryState.textContent = item.public ? "In the gallery" : "Not in the gallery";
      ctx.notify(item.public ? "Shown in the gallery." : "Removed from the gallery.");
    } catch (error) {
      gallerySwitch.checked = !gallerySwitch.checked;
      status.textContent = error.message;
    }
    gallerySwitch.disabled = false;
  });
  const galleryState = h("span", {}, item.public ? "In the gallery" : "Not in the gallery");

  const tasks = catalog ? catalog.tasks : [];
  const useIn = tasks
    .filter((t) => ["edit", "inpaint", "upscale"].includes(t.id))
    .map((t) => h("button", { type: "button", class: "small quiet", onclick: () => toStudio({ task: t.id, input: inputOf(item) }) }, `Use in ${t.label}`));

  const confirm = h(
    "dialog",
    { class: "confirm-dialog", "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title" }, "Delete this image?"),
    h("p", {}, item.public ? "It leaves the gallery too. This can't be undone." : "This can't be undone."),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "danger", onclick: () => remove() }, "Delete image"),
      h("button", { type: "button", class: "quiet", onclick: () => confirm.close() }, "Keep it"),
    ),
  );

  const actions = [
    // The API's download_url names the file itself (an attachment, across origins too); the name here is a fallback.
    h("a", { class: "button small", href: item.download_url || item.url, download: item.download_url ? true : downloadName(item) }, "Download"),
    isOutput && item.task !== "image_to_prompt" ? h("button", { type: "button", class: "small", onclick: () => rerun() }, "Re-run") : null,
    isOutput && catalog && catalog.task("vary") && item.task !== "upscale"
      ? h("button", { type: "button", class: "small", onclick: () => toStudio({ task: "vary", input: inputOf(item), prompt: item.prompt || "" }) }, "Variations")
      : null,
    isOutput && ["text_to_image", "vary"].includes(item.task) && !(job && job.size === "4k") && catalog && catalog.modelsFor("upscale").length
      ? h("button", { type: "button", class: "small", onclick: () => upscale4k() }, "Upscale to 4K")
      : null,
    useIn,
    h("button", { type: "button", class: "small danger", onclick: () => confirm.showModal() }, "Delete"),
  ];

  root.append(
    h("h1", { class: "image-title" }, item.kind === "upload" ? "Uploaded image" : "Your image"),
    h(
      "div",
      { class: "image-page" },
      h("div", { class: "image-main" }, frame, h("p", { class: "zoom" }, zoom)),
      h(
        "div",
        { class: "image-side" },
        promptBlock(ctx, item.prompt),
        h("div", { class: "actions" }, actions),
        status,
        facts([
          ["Task", taskLabel(catalog, item.task)],
          ["Model", modelName(catalog, item.model)],
          ["Seed", seeded ? String(item.seed) : null],
          ["Strength", strength ? strength.label : null],
          ["Size", `${item.width}×${item.height} px${job && job.size === "4k" ? " (4K)" : ""}`],
          ["Aspect ratio", aspectOf(catalog, item, job)],
          ["Made", h("time", { datetime: item.created_at }, formatDate(item.created_at))],
          ["Credits charged", job && job.status === "succeeded" ? plural(job.cost, "credit", "credits") : null],
          ["Provenance", provenance(item)],
          ["Gallery", isOutput ? galleryState : null],
        ]),
        isOutput
          ? h(
              "div",
              { class: "publish" },
              h("span", { class: "switch" }, gallerySwitch, h("label", { for: "image-public" }, "Show in gallery")),
              h("p", { class: "help", id: "image-public-help" }, "Anyone can then see this image and its prompt, without your name."),
            )
          : null,
      ),
    ),
    confirm,
  );

  function inputOf(it) {
    return { id: it.id, url: it.url, width: it.width, height: it.height, kind: it.kind };
  }

  function toStudio(value) {
    handOff(value);
    ctx.navigate("#/studio");
  }

  async function submitAndGo(body, meta) {
    status.textContent = "";
    try {
      const accepted = await api.submitJob(body);
      remember(accepted.id, { ...meta, body });
      ctx.navigate("#/studio");
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function rerun() {
    const body = again ? { ...again } : null;
    if (!body) {
      toStudio({ task: item.task, prompt: item.prompt || "" });
      return;
    }
    delete body.seed; // the same settings, a new seed
    submitAndGo(body, { prompt: body.prompt || "", count: body.count || 1, width: item.width, height: item.height });
  }

  function upscale4k() {
    const m = catalog.modelsFor("upscale")[0];
    const targets = upscaleTargets(m, item.width, item.height);
    if (!targets.length) {
      status.textContent = "This image is already as large as it can be.";
      return;
    }
    const [width, height] = scaled(item.width, item.height, targets.at(-1));
    submitAndGo({ task: "upscale", model: m.id, image: item.id, target_long_side: targets.at(-1) }, { prompt: "", count: 1, width, height });
  }

  async function remove() {
    try {
      await api.delete(`/v1/media/${item.id}`);
      confirm.close();
      ctx.notify("Deleted.");
      if (history.length > 1) history.back();
      else ctx.navigate("#/history");
    } catch (error) {
      confirm.close();
      status.textContent = error.message;
    }
  }
}

async function publicView(root, ctx, id, catalog) {
  // From the gallery's own listing when the person came from it; otherwise (a shared link, a new tab) from the API.
  const known = takeGalleryItem(id) || (await api.publicGet(`/v1/gallery/${id}`).catch(() => null));
  if (!known) {
    root.append(
      h("h1", { class: "image-title" }, "Not in the gallery"),
      h("p", {}, "This image is no longer in the public gallery, or the link is wrong."),
      h("p", {}, h("a", { href: "#/gallery" }, "Back to the gallery")),
    );
    return;
  }
  const src = known ? known.url : url(`/v1/gallery/${id}/image`);
  const name = (known && known.prompt) || "An example image";
  const { frame, zoom } = picture(src, name, known && known.width, known && known.height);
  root.append(
    h("h1", { class: "image-title" }, "From the gallery"),
    h(
      "div",
      { class: "image-page" },
      h("div", { class: "image-main" }, frame, h("p", { class: "zoom" }, zoom)),
      h(
        "div",
        { class: "image-side" },
        promptBlock(ctx, known && known.prompt),
        known && known.prompt ? h("div", { class: "actions" }, h("a", { href: tryHref(known.prompt), class: "button small" }, "Try this prompt")) : null,
        known
          ? facts([
              ["Model", modelName(catalog, known.model)],
              ["Size", known.width ? `${known.width}×${known.height} px` : null],
              ["Published", h("time", { datetime: known.published_at }, formatDate(known.published_at))],
            ])
          : null,
        h("p", {}, h("a", { href: "#/gallery" }, "Back to the gallery")),
      ),
    ),
  );
}
