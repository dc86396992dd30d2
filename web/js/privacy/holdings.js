// "What we hold about you": rendered from GET /v1/me/data, which is the data map itself (the map export and
// erasure follow), so this page cannot describe data differently from how the code treats it.

import { h, plural } from "../dom.js";

const CATEGORY = {
  account: "Account",
  usage: "Usage",
  media: "Images",
  "device/connection": "Device and connection",
  payment: "Payments",
  support: "Support",
  consent: "Consent and choices",
};

const ON_DELETION = { delete: "Deleted", anonymise: "Anonymised", "keep pseudonymised": "Kept, pseudonymised" };

export function label(name) {
  return name.replace(/^files\//, "files: ").replace(/_/g, " ");
}

export function keepFor(retention) {
  if (retention.counted_from === "relationship end") return "as long as your account exists";
  if (retention.keep_days === 0) return `a few minutes after ${retention.counted_from}`;
  const span = retention.keep_days >= 365 ? plural(Math.round(retention.keep_days / 365), "year", "years") : plural(retention.keep_days, "day", "days");
  return `${span} after ${retention.counted_from}`;
}

function row(item) {
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, label(item.name)),
    h("td", {}, item.purpose),
    h("td", {}, item.legal_basis || "as the records it belongs to"),
    h("td", {}, keepFor(item.retention)),
    h("td", {}, ON_DELETION[item.on_deletion] || item.on_deletion),
    h("td", { class: "num" }, item.count === null ? "—" : String(item.count)),
  );
}

export function holdingsSection(data) {
  const groups = data.categories.map((c) =>
    h(
      "details",
      { class: "holding" },
      h("summary", {}, CATEGORY[c.category] || c.category, h("span", { class: "muted" }, ` · ${plural(c.items.length, "kind of record", "kinds of record")}`)),
      h(
        "div",
        { class: "table-scroll", tabindex: "0" },
        h(
          "table",
          { class: "ledger", "aria-label": `${CATEGORY[c.category] || c.category}: what we hold` },
          h(
            "thead",
            {},
            h("tr", {}, ["Record", "Why", "Legal basis", "Kept for", "When you delete your account", "Yours"].map((t) => h("th", { scope: "col" }, t))),
          ),
          h("tbody", {}, c.items.map(row)),
        ),
      ),
    ),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "held-h" },
    h("h2", { id: "held-h" }, "What we hold about you"),
    h("p", { class: "help" }, "Every kind of record we keep, why, and for how long. The counts are your own records."),
    groups,
  );
}

// What erasure removes and what it keeps (with the retention reason), for the deletion panel.
export function deletionSummary(data) {
  const items = data.categories.flatMap((c) => c.items);
  const kept = items.filter((i) => i.on_deletion !== "delete");
  const deleted = items.filter((i) => i.on_deletion === "delete");
  return h(
    "div",
    { class: "deletion-summary" },
    h("h3", {}, "Deleted"),
    h("p", {}, deleted.map((i) => label(i.name)).join(", "), "."),
    h("h3", {}, "Kept"),
    h(
      "ul",
      {},
      kept.map((i) => h("li", {}, h("strong", {}, label(i.name)), `: ${ON_DELETION[i.on_deletion].toLowerCase()}, ${i.retention.description} (${keepFor(i.retention)}).`)),
    ),
  );
}
