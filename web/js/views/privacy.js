// The privacy center: every right and choice as a page section, none needing an email to us. What we hold
// comes from the data map through the API, so the page can never drift from what export and erasure do.
// While a deletion is pending the account is locked and the page shows only the date, Cancel deletion and
// the exports.

import { api } from "../api.js";
import { h } from "../dom.js";
import { choicesSection } from "../privacy/choices.js";
import { correctSection, deletionSection, lockedSection, restrictionSection } from "../privacy/account.js";
import { exportsSection } from "../privacy/exports.js";
import { holdingsSection } from "../privacy/holdings.js";
import { policiesSection, requestsSection } from "../privacy/records.js";

const HEAD = h("p", { class: "lede" }, "See what we hold about you, take a copy, correct it, choose what we may do with it, or delete it.");

export async function render(root, ctx) {
  const me = ctx.me;
  const data = await api.get("/v1/me/data");
  const exports = exportsSection(ctx);
  const head = h("div", { class: "page-head" }, h("h1", {}, "Privacy"), HEAD.cloneNode(true));
  if (me.deletion_scheduled_for) {
    root.append(head, lockedSection(me, data, ctx), exports.section);
    await exports.ready;
    return exports.stop;
  }
  const [prefs, requests, policies] = await Promise.all([api.get("/v1/me/preferences"), api.get("/v1/me/requests"), policiesSection()]);
  root.append(
    head,
    h(
      "div",
      { class: "toc", role: "navigation", "aria-label": "Privacy center" },
      h(
        "ul",
        {},
        [
          ["held-h", "What we hold"],
          ["export-h", "Download my data"],
          ["fix-h", "Correct"],
          ["choices-h", "Choices"],
          ["restrict-h", "Restrict"],
          ["requests-h", "Requests"],
          ["versions-h", "Policies"],
          ["delete-h", "Delete account"],
        ].map(([id, text]) => h("li", {}, h("a", { href: `#/privacy`, "data-target": id, onclick: (event) => jump(event, id) }, text))),
      ),
    ),
    holdingsSection(data),
    exports.section,
    correctSection(me, ctx),
    choicesSection(prefs, ctx),
    restrictionSection(me, ctx),
    requestsSection(requests),
    policies,
    deletionSection(data, ctx),
  );
  await exports.ready;
  return exports.stop;
}

// In-page links without touching the hash (the hash is the route).
function jump(event, id) {
  event.preventDefault();
  const target = document.getElementById(id);
  target.setAttribute("tabindex", "-1");
  target.scrollIntoView();
  target.focus({ preventScroll: true });
}
