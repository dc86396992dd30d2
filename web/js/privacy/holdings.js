// "What we hold about you": the data map in a person's words (GET /v1/me/data `groups`, shared/privacy/plain.py),
// the same map export and erasure follow, so this page cannot describe data differently from how the code
// treats it; and what "Delete your account" removes and keeps, with why and for how long.

import { h, plural } from "../dom.js";

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

function group(g) {
  return h(
    "li",
    { class: "holding" },
    h("h3", {}, capital(g.label), g.count ? h("span", { class: "muted" }, ` · ${plural(g.count, "record", "records")} of yours`) : null),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "What"),
      h("dd", {}, g.what),
      h("dt", {}, "Why"),
      h("dd", {}, g.why),
      h("dt", {}, "How long"),
      h("dd", {}, g.kept_for),
    ),
  );
}

export function holdingsSection(data) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": "held-h" },
    h("h2", { id: "held-h" }, "What we hold about you"),
    h("p", { class: "help" }, "Everything we keep about you, why, and for how long."),
    h("ul", { class: "holdings", "aria-label": "What we hold" }, data.groups.map(group)),
  );
}

// What erasure removes and what it keeps (why, and for how long), for the deletion panel.
export function deletionSummary(data) {
  const kept = data.groups.filter((g) => g.kept_after_deletion);
  const deleted = data.groups.filter((g) => g.deleted_with_account);
  return h(
    "div",
    { class: "deletion-summary" },
    h("h3", {}, "Deleted"),
    h("p", {}, capital(deleted.map((g) => g.label).join(", ")), kept.length ? ", and everything else not listed below." : "."),
    kept.length ? h("h3", {}, "Kept") : null,
    kept.length ? h("ul", { "aria-label": "Kept after deletion" }, kept.map((g) => h("li", {}, h("strong", {}, capital(g.label)), `: ${g.kept_after_deletion}.`))) : null,
  );
}
