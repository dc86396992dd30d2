// The privacy policy and terms, public: the exact text of the version in force. A section can be linked:
// `#/policy/privacy#automated-decisions` opens the policy at the heading whose text makes that anchor.

import { api } from "../api.js";
import { h, formatDay } from "../dom.js";
import { renderMarkdown } from "../markdown.js";

export async function render(root, ctx) {
  const [name, anchor] = (ctx.args[0] || "privacy").split("#");
  const kind = name === "terms" ? "terms" : "privacy";
  const current = await api.publicGet("/v1/policies/current");
  const version = kind === "terms" ? current.terms : current;
  const text = await api.text(version.url);
  root.append(
    h(
      "article",
      { class: "panel policy-text" },
      h("h1", {}, kind === "terms" ? "Terms of service" : "Privacy policy"),
      h("p", { class: "muted" }, `Version ${version.version}, in force since ${formatDay(version.effective_at)}.`),
      version.summary ? h("p", { class: "policy-summary" }, h("strong", {}, "What changed: "), version.summary) : null,
      renderMarkdown(text, { anchors: true }),
    ),
  );
  const target = anchor ? document.getElementById(anchor) : null;
  if (target) {
    target.setAttribute("tabindex", "-1");
    requestAnimationFrame(() => {
      const header = document.querySelector(".top"); // sticky: the section lands just below it
      const offset = (header ? header.getBoundingClientRect().height : 0) + 16;
      window.scrollTo({ top: target.getBoundingClientRect().top + window.scrollY - offset });
      target.focus({ preventScroll: true });
    });
  }
}
