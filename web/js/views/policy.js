// The privacy policy and terms, public: the exact text of the version in force. `#/policy/privacy/<section>` lands
// on one section (a heading, or a list item led by a bold term: markdown.js `sectionId`).

import { api } from "../api.js";
import { h, formatDay } from "../dom.js";
import { renderMarkdown, sectionId } from "../markdown.js";

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
      renderMarkdown(text, { anchors: true }),
    ),
  );
  const section = ctx.args[1] ? root.querySelector(`#${CSS.escape(sectionId(ctx.args[1]))}`) : null;
  if (section) {
    section.classList.add("landed");
    const header = document.querySelector(".top"); // sticky: the section lands just below it
    const offset = (header ? header.getBoundingClientRect().height : 0) + 16;
    window.scrollTo({ top: section.getBoundingClientRect().top + window.scrollY - offset });
  }
}
