// My requests (rights requests on record, with due dates and outcomes) and the policy versions: in force and
// the ones accepted, with dates.

import { api } from "../api.js";
import { h, formatDay, formatDate } from "../dom.js";

const KIND = { export: "Copy of my data", erasure: "Delete my account", restriction: "Restrict processing", objection: "Objection", rectification: "Correction", access: "Access", other: "Other" };
const STATUS = { open: "Open", completed: "Done", refused: "Refused", withdrawn: "Withdrawn" };

export function requestsSection(requests) {
  const body = requests.items.length
    ? h(
        "div",
        { class: "table-scroll", tabindex: "0" },
        h(
          "table",
          { class: "ledger", "aria-label": "Your requests" },
          h("thead", {}, h("tr", {}, ["Request", "Received", "Due by", "Answer"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            requests.items.map((r) =>
              h(
                "tr",
                {},
                h("td", {}, KIND[r.kind] || r.kind),
                h("td", {}, formatDay(r.received_at)),
                h("td", {}, formatDay(r.due_at), r.extended_at ? h("span", { class: "help" }, " (extended)") : null),
                h("td", {}, STATUS[r.status] || r.status, r.completed_at ? ` on ${formatDay(r.completed_at)}` : "", r.overdue ? h("strong", {}, " · overdue") : null),
              ),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, "No requests yet.");
  return h("section", { class: "panel", "aria-labelledby": "requests-h" }, h("h2", { id: "requests-h" }, "Your requests"), h("p", { class: "help" }, "We answer within a month; the due date says by when."), body);
}

export async function policiesSection() {
  const [current, accepted] = await Promise.all([api.publicGet("/v1/policies/current"), api.get("/v1/me/policy-acceptances")]);
  const inForce = [
    { kind: "privacy", name: "Privacy policy", v: current },
    { kind: "terms", name: "Terms", v: current.terms },
  ];
  return h(
    "section",
    { class: "panel", "aria-labelledby": "versions-h" },
    h("h2", { id: "versions-h" }, "Policy versions"),
    h("h3", {}, "In force"),
    h(
      "ul",
      { class: "links" },
      inForce.map((p) => h("li", {}, h("a", { href: `#/policy/${p.kind}` }, `${p.name}, version ${p.v.version}`), h("span", { class: "help" }, ` · since ${formatDay(p.v.effective_at)}`))),
    ),
    h("h3", {}, "You accepted"),
    accepted.items.length
      ? h("ul", { class: "accepted", "aria-label": "Versions you accepted" }, accepted.items.map((a) => h("li", {}, `${a.kind === "terms" ? "Terms" : "Privacy policy"}, version ${a.version}, on ${formatDate(a.accepted_at)}`)))
      : h("p", { class: "muted" }, "Nothing yet."),
  );
}
