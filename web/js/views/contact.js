// The contact form, for people without an account (or who cannot sign in): the answer comes by email, and
// the reference shown lets them quote this message later. Topic "privacy" also starts a rights request.

import { api } from "../api.js";
import { h, onSubmit, replace } from "../dom.js";

const TOPICS = [
  ["general", "A question"],
  ["account", "My account or signing in"],
  ["billing", "Payments and credits"],
  ["privacy", "My personal data (a privacy request)"],
  ["other", "Something else"],
];

export async function render(root, ctx) {
  const email = h("input", { id: "contact-email", type: "email", name: "email", autocomplete: "email", required: true, maxlength: 254 });
  const name = h("input", { id: "contact-name", name: "name", autocomplete: "name", maxlength: 200 });
  const topic = h("select", { id: "contact-topic", name: "topic" }, TOPICS.map(([value, label]) => h("option", { value }, label)));
  const message = h("textarea", { id: "contact-message", name: "message", rows: 6, required: true, maxlength: 10000 });
  const panel = h("section", { class: "panel narrow" });
  const form = onSubmit(
    h(
      "form",
      { class: "stack wide" },
      h("label", { for: "contact-email" }, "Your email"),
      email,
      h("label", { for: "contact-name" }, "Your name (optional)"),
      name,
      h("label", { for: "contact-topic" }, "Topic"),
      topic,
      h("label", { for: "contact-message" }, "Message"),
      message,
      h("button", { type: "submit" }, "Send message"),
      h("p", { class: "error", role: "alert" }),
    ),
    async () => {
      const body = { email: email.value.trim(), topic: topic.value, message: message.value };
      if (name.value.trim()) body.name = name.value.trim();
      // Signed in, the token goes along: with the account's own address the message joins the account (and its
      // data export); with any other address it stays linked to no account.
      const sent = ctx.me ? await api.post("/v1/contact", body) : await api.publicPost("/v1/contact", body);
      replace(
        panel,
        h("h1", { tabindex: "-1" }, "Message sent"),
        h("p", {}, "Thank you. We sent a confirmation to your address and will answer there."),
        h("p", {}, "Your reference: ", h("strong", { class: "reference" }, sent.reference), h("span", { class: "help" }, " (quote it if you write to us about this again)")),
        sent.topic === "privacy" ? h("p", { class: "muted" }, "As a privacy request, it is answered within one month.") : null,
      );
      panel.querySelector("h1").focus();
    },
  );
  panel.append(
    h("h1", {}, "Contact us"),
    h("p", { class: "lede" }, "No account needed. We keep your address only to answer you, and delete it with the message."),
    h(
      "p",
      { class: "muted" },
      "A message becomes part of an account (and its data export) only when sent signed in with that account's own address.",
    ),
    form,
    ctx.me ? h("p", { class: "muted" }, "Signed in? ", h("a", { href: "#/support" }, "Open a support ticket"), " to keep the conversation in your account.") : null,
  );
  root.append(panel);
}
