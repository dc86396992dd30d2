// A material change of the privacy policy or terms: shown, and accepted, before anything else.

import { api } from "../api.js";
import { h, formatDay } from "../dom.js";
import { renderMarkdown } from "../markdown.js";

const NAMES = { privacy: "privacy policy", terms: "terms" };

export async function render(root, ctx) {
  const pending = ctx.me.policies_to_accept;
  const error = h("p", { class: "error", role: "alert" });
  const texts = await Promise.all(pending.map((p) => api.text(p.url)));
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        button.disabled = true;
        try {
          for (const p of pending) await api.post("/v1/me/policy-acceptances", { kind: p.kind, version: p.version });
          await ctx.refreshMe();
          ctx.notify("Thank you. You can carry on.");
          ctx.reload();
        } catch (failure) {
          error.textContent = failure.message;
          button.disabled = false;
        }
      },
    },
    "Accept and continue",
  );
  root.append(
    h(
      "section",
      { class: "panel" },
      h("h1", {}, "We updated our policies"),
      h("p", { class: "lede" }, "Please read what changed and accept to keep using Atelier. Your data stays yours either way: you can still export or delete it from Privacy."),
      pending.map((p, i) =>
        h(
          "article",
          { class: "policy-text", "aria-label": `${NAMES[p.kind]} version ${p.version}` },
          h("h2", {}, `The ${NAMES[p.kind]}, version ${p.version} (in force since ${formatDay(p.effective_at)})`),
          p.summary ? h("p", { class: "policy-summary" }, h("strong", {}, "What changed: "), p.summary) : null,
          renderMarkdown(texts[i]),
        ),
      ),
      button,
      error,
      h("p", { class: "muted" }, "Don't agree? ", h("a", { href: "#/privacy" }, "Export or delete your data"), "."),
    ),
  );
}
