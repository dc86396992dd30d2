// The content history: the person's images, newest first, paged as they scroll, as thumbnails. Filter by task,
// search the prompts (server side: GET /v1/media?q=&task=), select several to download or delete (deleting asks
// first); each opens its image page, can be shown in the gallery or not, or reused in the studio.

import { api } from "../api.js";
import { catalog as loadCatalog } from "../catalog.js";
import { h, replace, formatDate, plural } from "../dom.js";
import { handOff } from "../handoff.js";

const PAGE = 24;
const KIND_LABEL = { upload: "Upload", output: "Generated", mask: "Mask" };
const IMAGE_TASKS = ["edit", "inpaint", "upscale"];
// What the filter offers: everything, the images of each task that makes some (GET /v1/studio), or the uploads.
const showChoices = (catalog) => [
  ["", "Everything"],
  ...(catalog ? catalog.tasks : []).filter((t) => t.output_label).map((t) => [`task:${t.id}`, t.output_label]),
  ["kind:upload", "Uploads"],
];
const EMPTY = "Nothing here yet. Make something in the Studio!";

const extension = (item) => item.content_type.split("/")[1];

export async function render(root, ctx) {
  const catalog = await loadCatalog().catch(() => null);
  const list = h("ul", { class: "tiles", "aria-label": "Your images" });
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => next() }, "Load more");
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const confirm = h("dialog", { class: "confirm-dialog", "aria-labelledby": "confirm-h" });
  const search = h("input", { type: "search", id: "history-search", name: "q", maxlength: 200, placeholder: "e.g. lighthouse", autocomplete: "off" });
  const show = h("select", { id: "history-show", name: "show" }, showChoices(catalog).map(([value, label]) => h("option", { value }, label)));
  const selection = new Map(); // id -> item
  const chosen = h("span", { class: "muted", "aria-live": "polite" });
  const downloadSelected = h("button", { type: "button", class: "small", disabled: true, onclick: () => downloadAll([...selection.values()]) }, "Download selected");
  const deleteSelected = h("button", { type: "button", class: "small danger", disabled: true, onclick: () => askDelete([...selection.values()], deleteSelected) }, "Delete selected");
  let cursor = null;
  let loading = false;
  let done = false;
  let generation = 0;

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "History"), h("p", { class: "lede" }, "Everything you uploaded or made, newest first. Only you can see it unless you show an image in the gallery.")),
    h(
      "form",
      { class: "history-tools", role: "search", onsubmit: (event) => { event.preventDefault(); restart(); } },
      h("span", { class: "field" }, h("label", { for: "history-search" }, "Search your images"), search),
      h("span", { class: "field" }, h("label", { for: "history-show" }, "Show"), show),
    ),
    h("div", { class: "bulk", role: "group", "aria-label": "Selected images" }, chosen, downloadSelected, deleteSelected),
    list,
    status,
    more,
    sentinel,
    confirm,
  );

  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(restart, 350);
  });
  show.addEventListener("change", () => restart());

  function restart() {
    clearTimeout(typing);
    generation += 1;
    list.replaceChildren();
    selection.clear();
    updateSelection();
    cursor = null;
    done = false;
    loading = false;
    next();
  }

  async function next() {
    if (loading || done) return;
    loading = true;
    const mine = generation;
    status.textContent = "Loading…";
    try {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (cursor) query.set("cursor", cursor);
      if (search.value.trim()) query.set("q", search.value.trim());
      const [field, value] = show.value.split(":");
      if (field) query.set(field, value);
      const page = await api.get(`/v1/media?${query}`);
      if (mine !== generation) return;
      for (const item of page.items.filter((i) => i.kind !== "mask")) list.append(tile(item));
      cursor = page.next_cursor;
      done = !cursor;
      more.hidden = done;
      const filtered = search.value.trim() || show.value;
      status.textContent = list.children.length ? "" : filtered ? "No images match. Try other words, or show everything." : EMPTY;
    } catch (error) {
      if (mine === generation) status.textContent = error.message;
    } finally {
      if (mine === generation) loading = false;
    }
  }

  function updateSelection() {
    const n = selection.size;
    chosen.textContent = n ? `${plural(n, "image", "images")} selected` : "Select images to download or delete several.";
    downloadSelected.disabled = deleteSelected.disabled = n === 0;
  }

  function tile(item) {
    const name = item.prompt || (item.kind === "upload" ? "Uploaded image" : "Generated image");
    const li = h("li", { class: "tile", "data-id": item.id });
    const pick = h("input", { type: "checkbox", id: `pick-${item.id}`, "aria-label": `Select ${name}` });
    pick.addEventListener("change", () => {
      if (pick.checked) selection.set(item.id, item);
      else selection.delete(item.id);
      li.classList.toggle("picked", pick.checked);
      updateSelection();
    });
    const remove = h("button", { type: "button", class: "small danger" }, "Delete");
    remove.addEventListener("click", () => askDelete([item], remove));
    const controls = [
      h("a", { class: "button small", href: item.url, download: `atelier-${item.id}.${extension(item)}` }, "Download"),
      useInStudio(item),
      remove,
    ];
    if (item.kind === "output") controls.push(gallerySwitch(item));
    li.append(
      h("span", { class: "pick" }, pick),
      h("a", { href: `#/image/${item.id}`, class: "thumb" }, h("img", { src: item.thumbnail_url || item.url, alt: name, loading: "lazy", width: item.width, height: item.height })),
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

  // Deleting asks first, for one image or several; they vanish at once when confirmed.
  function askDelete(items, opener) {
    const yes = h("button", { type: "button", class: "danger" }, items.length === 1 ? "Delete image" : `Delete ${items.length} images`);
    const no = h("button", { type: "button", class: "quiet", onclick: () => confirm.close() }, "Keep");
    const error = h("p", { class: "error", role: "alert" });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      let gone = 0;
      for (const item of items) {
        try {
          await api.delete(`/v1/media/${item.id}`);
          gone += 1;
          selection.delete(item.id);
          const li = list.querySelector(`[data-id="${item.id}"]`);
          if (li) li.remove();
        } catch (failure) {
          error.textContent = failure.message;
          yes.disabled = false;
          updateSelection();
          return;
        }
      }
      updateSelection();
      confirm.close();
      ctx.notify(gone === 1 ? "Deleted." : `Deleted ${gone} images.`);
      if (!list.children.length) status.textContent = EMPTY;
    });
    replace(
      confirm,
      h("h2", { id: "confirm-h" }, items.length === 1 ? "Delete this image?" : `Delete ${items.length} images?`),
      h("p", {}, "They leave your history and the gallery at once and cannot be brought back."),
      h("div", { class: "actions" }, yes, no),
      error,
    );
    confirm.onclose = () => {
      const target = opener && opener.isConnected ? opener : list.querySelector("a, button") || search;
      target.focus();
    };
    confirm.showModal();
    no.focus();
  }

  // Several downloads, one after another, each saved under its own name (fetched, so a link on another
  // origin downloads too instead of opening).
  async function downloadAll(items) {
    downloadSelected.disabled = true;
    try {
      for (const item of items) {
        const response = await fetch(item.url);
        if (!response.ok) throw new Error("An image could not be downloaded. Please try again.");
        const href = URL.createObjectURL(await response.blob());
        const link = h("a", { href, download: `atelier-${item.id}.${extension(item)}`, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(href), 10000);
      }
      ctx.notify(items.length === 1 ? "Downloaded." : `Downloaded ${items.length} images.`);
    } catch (error) {
      ctx.notify(error.message === "Failed to fetch" ? "An image could not be downloaded. Please try again." : error.message);
    }
    downloadSelected.disabled = selection.size === 0;
  }

  function gallerySwitch(item) {
    const id = `gallery-${item.id}`;
    const box = h("input", { type: "checkbox", role: "switch", id, checked: item.public });
    box.addEventListener("change", async () => {
      box.disabled = true;
      try {
        const updated = await api.patch(`/v1/media/${item.id}`, { public: box.checked });
        box.checked = updated.public;
        ctx.notify(updated.public ? "Shown in the gallery. Its prompt is public too." : "Removed from the gallery.");
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
    return (t && t.output_label) || KIND_LABEL.output;
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

  updateSelection();
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  });
  await next();
  observer.observe(sentinel);
  return () => observer.disconnect();
}
