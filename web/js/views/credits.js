// Credits: the balance, grants with their expiry, the ledger; buying a pack or subscribing through Polar
// checkout, and the customer portal for invoices and subscriptions.

import { api } from "../api.js";
import { h, replace, formatDate, formatDay, formatMoney, plural } from "../dom.js";

const GRANT = { signup: "Welcome credits", purchase: "Purchase", subscription: "Subscription", adjustment: "Adjustment" };
// A hold only reserves (and a void or release returns the reservation), so those carry no sign.
const SIGN = { grant: "+", post: "−", revoke: "−", expire: "−" };
const ENTRY = { grant: "Added", hold: "Reserved for a job", post: "Spent", release: "Returned", void: "Returned", revoke: "Refunded", expire: "Expired" };

export async function render(root, ctx) {
  const [credits, products] = await Promise.all([api.get("/v1/credits"), api.publicGet("/v1/billing/products")]);
  const error = h("div", { class: "error", role: "alert" });
  const ledger = h("tbody");
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Show older entries");
  let cursor = null;

  async function go(path, body, button) {
    button.disabled = true;
    error.textContent = "";
    try {
      const { url } = await api.post(path, body);
      location.assign(url);
    } catch (failure) {
      replace(error, failure.message);
      button.disabled = false;
    }
  }

  const product = (p) => {
    const buy = h("button", { type: "button", class: "primary" }, p.kind === "pack" ? "Buy" : "Subscribe");
    buy.setAttribute("aria-label", `${p.kind === "pack" ? "Buy" : "Subscribe to"} ${p.name}`);
    buy.addEventListener("click", () => go("/v1/billing/checkout", { product_id: p.product_id }, buy));
    return h(
      "li",
      { class: "product" },
      h("h3", {}, p.name),
      h("p", { class: "amount" }, p.kind === "pack" ? plural(p.credits, "credit", "credits") : `${plural(p.credits, "credit", "credits")} every month`),
      h("p", { class: "price" }, formatMoney(p.price_amount, p.price_currency) + (p.kind === "subscription" && p.price_amount !== null ? " a month" : "")),
      h("p", { class: "help" }, p.kind === "pack" ? "Never expire." : "Expire at the end of each period."),
      buy,
    );
  };

  const portal = h("button", { type: "button", class: "quiet" }, "Invoices and subscriptions");
  portal.addEventListener("click", () => go("/v1/billing/portal", undefined, portal));

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Credits")),
    h(
      "section",
      { class: "panel balance-panel", "aria-labelledby": "balance-h" },
      h("h2", { id: "balance-h" }, "Balance"),
      h("p", { class: "big" }, plural(credits.available, "credit", "credits"), " available"),
      credits.pending ? h("p", { class: "muted" }, `${credits.pending} reserved for running jobs.`) : null,
      credits.grants.length
        ? h(
            "ul",
            { class: "grants" },
            credits.grants.map((g) =>
              h("li", {}, `${GRANT[g.kind] || g.kind}: ${g.remaining} of ${g.amount} left`, g.expires_at ? h("span", { class: "muted" }, ` · expires ${formatDay(g.expires_at)}`) : h("span", { class: "muted" }, " · never expires")),
            ),
          )
        : null,
    ),
    h("section", { class: "panel", "aria-labelledby": "buy-h" }, h("h2", { id: "buy-h" }, "Buy credits"), h("ul", { class: "products" }, products.items.map(product)), h("p", { class: "help" }, "Payments are handled by Polar, our merchant of record. ", portal), error),
    h(
      "section",
      { class: "panel", "aria-labelledby": "ledger-h" },
      h("h2", { id: "ledger-h" }, "History of your credits"),
      h("table", { class: "ledger" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "What"), h("th", { scope: "col", class: "num" }, "Credits"))), ledger),
      more,
    ),
  );

  async function page() {
    const query = new URLSearchParams({ limit: "20" });
    if (cursor) query.set("cursor", cursor);
    const result = await api.get(`/v1/credits/ledger?${query}`);
    for (const e of result.items) {
      ledger.append(h("tr", {}, h("td", {}, formatDate(e.created_at)), h("td", {}, ENTRY[e.type] || e.type), h("td", { class: "num" }, `${SIGN[e.type] || ""}${Math.abs(e.amount)}`)));
    }
    cursor = result.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", () => page().catch((e) => ctx.notify(e.message)));
  await page();
}
