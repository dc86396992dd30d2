// The public gallery of published examples (each opens its own page, #/image/{id}), and (signed in) the person's own choice whether what they
// publish is shown at all.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { keepGalleryItems } from "../gallery-items.js";
import { signedIn } from "../session.js";

export async function render(root, ctx) {
  const list = h("ul", { class: "tiles gallery", "aria-label": "Published examples" });
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => next() }, "Load more");
  const preference = h("div", { class: "preference" });
  let cursor = null;

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Gallery"), h("p", { class: "lede" }, "Images people made with Atelier and chose to share.")),
    preference,
    list,
    status,
    more,
  );

  if (signedIn() && ctx.me && ctx.me.onboarding.done) {
    try {
      const prefs = await api.get("/v1/me/preferences");
      const box = h("input", { type: "checkbox", role: "switch", id: "pref-gallery", checked: prefs.gallery_display });
      box.addEventListener("change", async () => {
        box.disabled = true;
        try {
          const saved = await api.put("/v1/me/preferences", { gallery_display: box.checked });
          box.checked = saved.gallery_display;
          ctx.notify(saved.gallery_display ? "Images you publish are shown as examples." : "None of your images are shown as examples now.");
          list.replaceChildren();
          cursor = null;
          await next();
        } catch (error) {
          box.checked = !box.checked;
          ctx.notify(error.message);
        }
        box.disabled = false;
      });
      replace(preference, h("span", { class: "switch" }, box, h("label", { for: "pref-gallery" }, "Show my images as examples")), h("p", { class: "help" }, "Off hides every image you published, at once; publish or withdraw single images in History."));
    } catch {
      replace(preference);
    }
  }

  async function next() {
    status.textContent = "Loading…";
    try {
      const query = new URLSearchParams({ limit: "24" });
      if (cursor) query.set("cursor", cursor);
      const page = await api.publicGet(`/v1/gallery?${query}`);
      keepGalleryItems(page.items);
      for (const item of page.items) list.append(tile(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = list.children.length ? "" : "No examples yet. Publish one of your images to be the first.";
    } catch (error) {
      status.textContent = error.message;
    }
  }

  function tile(item) {
    const name = item.prompt || "An example image";
    return h(
      "li",
      { class: "tile" },
      h("a", { class: "thumb", href: `#/image/${item.id}` }, h("img", { src: item.thumbnail_url, alt: name, loading: "lazy", width: item.width, height: item.height })),
      h("p", { class: "caption" }, name),
    );
  }

  await next();
}
