// The privacy policy and terms, public: the exact text of the version in force.

import { api } from "../api.js";
import { h, formatDay } from "../dom.js";
import { renderMarkdown } from "../markdown.js";

export async function render(root, ctx) {
  const kind = ctx.args[0] === "terms" ? "terms" : "privacy";
  const current = await api.publicGet("/v1/policies/current");
  const version = kind === "terms" ? current.terms : current;
  const text = await api.text(version.url);
  root.append(
    h(
      "article",
      { class: "panel policy-text" },
      h("h1", {}, kind === "terms" ? "Terms of service" : "Privacy policy"),
      h("p", { class: "muted" }, `Version ${version.version}, in force since ${formatDay(version.effective_at)}.`),
      renderMarkdown(text),
    ),
  );
}
