// The content history: the person's images, newest first, paged as they scroll, as thumbnails; each opens its
// own page (#/image/{id}), and can be downloaded, deleted (it vanishes at once), shown in the gallery or not, or
// used in the Studio: its prompt in Create, the image in Edit, Inpaint or Upscale.

import { api } from "../api.js";
import { catalog as loadCatalog } from "../catalog.js";
import { h, formatDate } from "../dom.js";
import { handOff } from "../handoff.js";

const PAGE = 24;
const KIND_LABEL = { upload: "Upload", output: "Generated", mask: "Mask" };
const IMAGE_TASKS = ["edit", "inpaint", "upscale"];

export async function render(root, ctx) {
  const catalog = await loadCatalog().catch(() => null);
  const list = h("ul", { class: "tiles", "aria-label": "Your images" });
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => next() }, "Load more");
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  let cursor = null;
  let loading = false;
  let done = false;

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "History"), h("p", { class: "lede" }, "Everything you uploaded or made, newest first. Only you can see it unless you show an image in the gallery.")),
    list,
    status,
    more,
    sentinel,
  );

  async function next() {
    if (loading || done) return;
    loading = true;
    status.textContent = "Loading…";
    try {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) query.set("cursor", cursor);
      const page = await api.get(`/v1/media?${query}`);
      for (const item of page.items.filter((i) => i.kind !== "mask")) list.append(tile(item));
      cursor = page.next_cursor;
      done = !cursor;
      more.hidden = done;
      status.textContent = list.children.length ? "" : "Nothing here yet. Make something in the Studio!";
    } catch (error) {
      status.textContent = error.message;
    }
    loading = false;
  }

  function tile(item) {
    const name = item.prompt || (item.kind === "upload" ? "Uploaded image" : "Generated image");
    const li = h("li", { class: "tile" });
    const remove = h("button", { type: "button", class: "small danger" }, "Delete");
    remove.setAttribute("aria-label", "Delete");
    remove.addEventListener("click", async () => {
      remove.disabled = true;
      try {
        await api.delete(`/v1/media/${item.id}`);
        const focusNext = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        ctx.notify("Deleted.");
        if (focusNext) focusNext.querySelector("button, a").focus();
        else status.textContent = "Nothing here yet. Make something in the Studio!";
      } catch (error) {
        remove.disabled = false;
        ctx.notify(error.message);
      }
    });
    const controls = [
      h("a", { class: "button small", href: item.url, download: `atelier-${item.id}.${item.content_type.split("/")[1]}` }, "Download"),
      useInStudio(item),
      remove,
    ];
    if (item.kind === "output") controls.push(gallerySwitch(item));
    li.append(
      h("a", { class: "thumb", href: `#/image/${item.id}` }, h("img", { src: item.thumbnail_url || item.url, alt: name, loading: "lazy", width: item.width, height: item.height })),
      item.prompt ? h("p", { class: "caption" }, item.prompt) : null,
      h(
        "div",
        { class: "meta" },
        h("p", { class: "what" }, item.kind === "output" ? taskLabel(item.task) : KIND_LABEL[item.kind]),
        h("p", { class: "when" }, h("time", { datetime: item.created_at }, formatDate(item.created_at))),
        item.seed !== null && item.seed !== undefined ? h("p", { class: "seed" }, `Seed ${item.seed}`) : null,
      ),
      h("div", { class: "actions" }, controls),
    );
    return li;
  }

  function gallerySwitch(item) {
    const id = `gallery-${item.id}`;
    const box = h("input", { type: "checkbox", role: "switch", id, checked: item.public });
    box.addEventListener("change", async () => {
      box.disabled = true;
      try {
        const updated = await api.patch(`/v1/media/${item.id}`, { public: box.checked });
        box.checked = updated.public;
        ctx.notify(updated.public ? "Shown in the gallery." : "Removed from the gallery.");
      } catch (error) {
        box.checked = !box.checked;
        ctx.notify(error.message);
      }
      box.disabled = false;
    });
    return h("span", { class: "switch" }, box, h("label", { for: id }, "Show in gallery"));
  }

  function taskLabel(task) {
    const t = catalog && catalog.task(task);
    return t ? t.label : KIND_LABEL.output;
  }

  // "Use in studio": the prompt in Create, or the image in Edit, Inpaint or Upscale (what the catalog offers).
  function useInStudio(item) {
    const create = catalog ? catalog.tasks[0] : null;
    const choices = [
      item.prompt && create ? h("li", {}, h("button", { type: "button", class: "small quiet", onclick: () => go({ task: create.id, prompt: item.prompt }) }, `${create.label} with this prompt`)) : null,
      (catalog ? catalog.tasks : [])
        .filter((t) => IMAGE_TASKS.includes(t.id))
        .map((t) => h("li", {}, h("button", { type: "button", class: "small quiet", onclick: () => go({ task: t.id, prompt: "", input: { id: item.id, url: item.url, width: item.width, height: item.height, kind: item.kind } }) }, `${t.label} this image`))),
    ];
    return h("details", { class: "use-in" }, h("summary", { class: "button small quiet" }, "Use in studio"), h("ul", { class: "menu" }, choices));
  }

  function go(value) {
    handOff(value);
    ctx.navigate("#/studio");
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  });
  observer.observe(sentinel);
  await next();
  return () => observer.disconnect();
}
