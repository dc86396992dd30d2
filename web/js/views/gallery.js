// The public gallery of published examples: each opens its image page, can be tried in the Studio or reported;
// more load as the person scrolls ("Load more" where scrolling does not reach the end). Signed in, the person's
// own choice whether what they publish is shown at all.

import { api } from "../api.js";
import { h, replace, onSubmit } from "../dom.js";
import { signedIn } from "../session.js";
import { keepGalleryItems } from "../gallery-items.js";
import { tryHref } from "../handoff.js";

// The reasons POST /v1/gallery/{id}/report takes (shared/trust/reports.py), in words.
const REASONS = [
  ["sexual", "Sexual content"],
  ["minor_safety", "Endangers a child"],
  ["violence", "Violence or gore"],
  ["hate", "Hate"],
  ["harassment", "Harassment or bullying"],
  ["illegal", "Something illegal"],
  ["copyright", "Copies someone's work (copyright)"],
  ["privacy", "Shows a real person without consent"],
  ["spam", "Spam or scam"],
  ["other", "Something else"],
];

export async function render(root, ctx) {
  const list = h("ul", { class: "tiles gallery", "aria-label": "Published examples" });
  const status = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => next() }, "Load more");
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  const dialog = h("dialog", { class: "report", "aria-labelledby": "report-h" });
  const preference = h("div", { class: "preference" });
  let cursor = null;
  let loading = false;
  let done = false;

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Gallery"), h("p", { class: "lede" }, "Images people made with Atelier and chose to share.")),
    preference,
    list,
    status,
    more,
    sentinel,
    dialog,
  );

  // A locked account (deletion pending) has no choices to change: the API answers 403 there.
  if (signedIn() && ctx.me && ctx.me.onboarding.done && !ctx.me.deletion_scheduled_for) {
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
          done = false;
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
    if (loading || done) return;
    loading = true;
    status.textContent = "Loading…";
    try {
      const query = new URLSearchParams({ limit: "24" });
      if (cursor) query.set("cursor", cursor);
      const page = await api.publicGet(`/v1/gallery?${query}`);
      keepGalleryItems(page.items);
      for (const item of page.items) list.append(tile(item));
      cursor = page.next_cursor;
      done = !cursor;
      more.hidden = done;
      status.textContent = list.children.length ? "" : "No examples yet. Publish one of your images to be the first.";
    } catch (error) {
      status.textContent = error.message;
    }
    loading = false;
  }

  function tile(item) {
    const name = item.prompt || "An example image";
    const report = h("button", { type: "button", class: "small quiet", onclick: () => openReport(item, report) }, "Report");
    return h(
      "li",
      { class: "tile" },
      h("a", { class: "thumb", href: `#/image/${item.id}` }, h("img", { src: item.thumbnail_url, alt: name, loading: "lazy", width: item.width, height: item.height })),
      h("p", { class: "caption" }, name),
      h("div", { class: "actions" }, item.prompt ? h("a", { href: tryHref(item.prompt), class: "button small" }, "Try this prompt") : null, report),
    );
  }

  function openReport(item, opener) {
    const reason = h("select", { id: "report-reason", name: "reason", required: true }, h("option", { value: "" }, "Choose a reason"), REASONS.map(([value, label]) => h("option", { value }, label)));
    const details = h("textarea", { id: "report-details", name: "details", rows: 3, maxlength: 2000 });
    const close = () => dialog.close();
    const form = onSubmit(
      h(
        "form",
        { class: "stack" },
        h("label", { for: "report-reason" }, "What is wrong?"),
        reason,
        h("label", { for: "report-details" }, "Anything our reviewers should know (optional)"),
        details,
        h("p", { class: "help" }, "A person on our team reviews every report, usually within a day. If the image breaks our rules it leaves the gallery and its owner is told why. We do not tell them who reported it."),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Send report"), h("button", { type: "button", class: "quiet", onclick: close }, "Cancel")),
        h("p", { class: "error", role: "alert" }),
      ),
      async () => {
        const body = { reason: reason.value };
        if (details.value.trim()) body.details = details.value.trim();
        try {
          await api.publicPost(`/v1/gallery/${item.id}/report`, body);
        } catch (failure) {
          if (failure.status === 429) {
            const wait = failure.retryAfter ? ` Please try again in ${Math.ceil(failure.retryAfter / 60)} minute${failure.retryAfter > 60 ? "s" : ""}.` : " Please try again later.";
            throw new Error(`You have sent many reports in a short time.${wait}`);
          }
          throw failure;
        }
        replace(
          dialog,
          h("h2", { id: "report-h", tabindex: "-1" }, "Report this image"),
          h("p", { role: "status" }, "Thank you. Your report was received; our team will review this image."),
          h("button", { type: "button", onclick: close }, "Close"),
        );
        dialog.querySelector("button").focus();
      },
    );
    replace(dialog, h("h2", { id: "report-h" }, "Report this image"), form);
    dialog.onclose = () => opener.focus();
    dialog.showModal();
    reason.focus();
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  });
  await next();
  observer.observe(sentinel);
  return () => observer.disconnect();
}
