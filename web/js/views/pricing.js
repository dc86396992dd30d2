// Pricing, signed in or not: the credit packs and subscriptions from the same catalogue checkout uses
// (GET /v1/billing/products), and what a credit buys per task from the models' own prices (GET /v1/models).

import { api } from "../api.js";
import { h, formatMoney, plural } from "../dom.js";
import { signedIn } from "../session.js";

const TASKS = [
  ["text_to_image", "Create an image from words"],
  ["edit", "Edit an image with an instruction"],
  ["inpaint", "Repaint part of an image"],
  ["upscale", "Enlarge an image"],
  ["image_to_prompt", "Describe an image as a prompt"],
];

function perTask(models, task) {
  const able = models.filter((m) => m.tasks.includes(task));
  if (!able.length) return null;
  if (task === "upscale") {
    const least = Math.min(...able.map((m) => m.price.credits_per_megapixel));
    return `from ${plural(least, "credit", "credits")} per megapixel of the result`;
  }
  const prices = able.map((m) => m.price.credits_per_image);
  const [least, most] = [Math.min(...prices), Math.max(...prices)];
  return least === most ? `${plural(least, "credit", "credits")} per image` : `${least} to ${plural(most, "credit", "credits")} per image, by model`;
}

export async function render(root) {
  const [products, models] = await Promise.all([api.publicGet("/v1/billing/products"), api.publicGet("/v1/models")]);
  const card = (p) =>
    h(
      "li",
      { class: "product" },
      h("h3", {}, p.name),
      h("p", { class: "amount" }, p.kind === "pack" ? plural(p.credits, "credit", "credits") : `${plural(p.credits, "credit", "credits")} every month`),
      p.price_amount !== null ? h("p", { class: "price" }, formatMoney(p.price_amount, p.price_currency) + (p.kind === "subscription" ? " a month" : "")) : null,
      h("p", { class: "help" }, p.kind === "pack" ? "Paid once. These credits never expire." : "Renews monthly; cancel at any time. Unused credits end with each month."),
    );
  const packs = products.items.filter((p) => p.kind === "pack");
  const subscriptions = products.items.filter((p) => p.kind === "subscription");
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Pricing"), h("p", { class: "lede" }, "Pay for what you make with credits. New accounts get free credits to start.")),
    h(
      "section",
      { class: "panel", "aria-labelledby": "buys-h" },
      h("h2", { id: "buys-h" }, "What a credit buys"),
      h(
        "div",
        { class: "table-scroll", tabindex: "0" },
        h(
          "table",
          { class: "ledger", "aria-label": "Credits per task" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Task"), h("th", { scope: "col" }, "Costs"))),
          h(
            "tbody",
            {},
            TASKS.map(([task, label]) => [label, perTask(models.items, task)])
              .filter(([, cost]) => cost)
              .map(([label, cost]) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, cost))),
          ),
        ),
      ),
      h("p", { class: "help" }, "You see the exact cost before you start, and a job that fails costs nothing."),
    ),
    packs.length ? h("section", { class: "panel", "aria-labelledby": "packs-h" }, h("h2", { id: "packs-h" }, "Credit packs"), h("ul", { class: "products" }, packs.map(card))) : null,
    subscriptions.length
      ? h("section", { class: "panel", "aria-labelledby": "subs-h" }, h("h2", { id: "subs-h" }, "Subscriptions"), h("ul", { class: "products" }, subscriptions.map(card)))
      : null,
    h("p", {}, signedIn() ? h("a", { href: "#/credits", class: "button primary" }, "Buy credits") : h("a", { href: "#/studio", class: "button primary" }, "Get started"), " ", h("a", { href: "#/policy/terms" }, "Terms")),
  );
}
