// Support: write to a person (with screenshots or images attached), see every ticket and follow one
// conversation, replies from the team included. `#/support` lists and opens; `#/support/<id>` is one ticket.
// Attachments are stripped of metadata by the API, as every upload is.

import { api } from "../api.js";
import { h, onSubmit, replace, formatDate } from "../dom.js";
import { renderMarkdown } from "../markdown.js";

const MAX_FILES = 5;
const STATUS = { open: "Waiting for us", answered: "Answered", closed: "Closed" };

export async function render(root, ctx) {
  // `#/support/appeal/<decision id>`: the form opens as an appeal against that moderation decision.
  const appealing = ctx.args[0] === "appeal" ? ctx.args[1] : null;
  if (ctx.args[0] && !appealing) return renderTicket(root, ctx, ctx.args[0]);
  const list = h("ul", { class: "tickets", "aria-label": "Your tickets" });
  const status = h("p", { class: "muted", role: "status" });
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Support"), h("p", { class: "lede" }, "Ask us anything: a person reads every ticket and answers here and by email.")),
    h(
      "section",
      { class: "panel", "aria-labelledby": "new-ticket-h" },
      h("h2", { id: "new-ticket-h" }, appealing ? "Appeal a moderation decision" : "Open a ticket"),
      appealing ? h("p", { class: "help" }, `Decision ${appealing}. Tell us why you think it is wrong; a person reviews it and tells you the outcome in Notices and by email.`) : null,
      newTicketForm(ctx, appealing),
    ),
    h("section", { class: "panel", "aria-labelledby": "tickets-h" }, h("h2", { id: "tickets-h" }, "Your tickets"), list, status),
  );
  let cursor = null;
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Load more");
  async function load() {
    const page = await api.get(`/v1/support/tickets${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ""}`);
    for (const ticket of page.items) list.append(ticketRow(ticket));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    status.textContent = list.children.length ? "" : "No tickets yet.";
  }
  more.addEventListener("click", () => load().catch((error) => (status.textContent = error.message)));
  list.after(more);
  status.textContent = "Loading…";
  await load();
}

function ticketRow(ticket) {
  const last = ticket.messages[ticket.messages.length - 1];
  return h(
    "li",
    { class: "ticket-row" },
    h("a", { href: `#/support/${ticket.id}` }, ticket.subject),
    h("span", { class: `ticket-status status-${ticket.status}` }, STATUS[ticket.status] || ticket.status),
    h("span", { class: "muted" }, last ? `${last.author === "staff" ? "Atelier support" : "You"}, ${formatDate(last.created_at)}` : ""),
  );
}

function fileInput(id) {
  return h("input", { id, type: "file", name: "attachments", multiple: true, accept: "image/jpeg,image/png,image/webp", "aria-describedby": `${id}-help` });
}

function attach(form, files) {
  if (files.files.length > MAX_FILES) throw new Error(`Please attach at most ${MAX_FILES} images.`);
  for (const file of files.files) form.append("attachments", file);
}

function newTicketForm(ctx, decisionId) {
  const subject = h("input", { id: "ticket-subject", name: "subject", required: true, maxlength: 200 });
  if (decisionId) subject.value = "Appeal against a moderation decision";
  const message = h("textarea", { id: "ticket-message", name: "message", rows: 5, required: true, maxlength: 10000 });
  const files = fileInput("ticket-files");
  return onSubmit(
    h(
      "form",
      { class: "stack wide" },
      h("label", { for: "ticket-subject" }, "Subject"),
      subject,
      h("label", { for: "ticket-message" }, "Message"),
      message,
      h("label", { for: "ticket-files" }, "Images (optional)"),
      files,
      h("p", { class: "help", id: "ticket-files-help" }, `Up to ${MAX_FILES} JPEG, PNG or WebP images. We remove location and camera data from them.`),
      h("button", { type: "submit" }, decisionId ? "Send appeal" : "Send ticket"),
      h("p", { class: "error", role: "alert" }),
    ),
    async () => {
      const form = new FormData();
      form.append("subject", subject.value);
      form.append("message", message.value);
      if (decisionId) form.append("decision_id", decisionId);
      attach(form, files);
      const ticket = await api.postForm("/v1/support/tickets", form);
      ctx.notify(decisionId ? "Appeal sent. A person will review the decision." : "Ticket sent. We'll answer here and by email.");
      ctx.navigate(`#/support/${ticket.id}`);
    },
  );
}

function messageItem(message) {
  const staff = message.author === "staff";
  return h(
    "li",
    { class: `message ${staff ? "from-staff" : "from-you"}` },
    h("p", { class: "message-head" }, h("strong", {}, staff ? "Atelier support" : "You"), " · ", h("time", { datetime: message.created_at }, formatDate(message.created_at))),
    // Staff replies are written in Markdown (deploy.py support reply --file reply.md): rendered by the same safe
    // renderer as the policies (DOM nodes, never HTML); the person's own words stay plain text.
    staff ? h("div", { class: "message-body" }, renderMarkdown(message.body)) : h("p", { class: "message-body" }, message.body),
    message.attachments.length
      ? h(
          "ul",
          { class: "attachments", "aria-label": "Attachments" },
          message.attachments.map((a, i) =>
            h(
              "li",
              {},
              a.url
                ? h("a", { href: a.url, target: "_blank", rel: "noopener" }, h("img", { src: a.url, alt: `Attachment ${i + 1}`, width: a.width, height: a.height, loading: "lazy" }))
                : h("span", { class: "muted" }, `Attachment ${i + 1} (no longer available)`),
            ),
          ),
        )
      : null,
  );
}

async function renderTicket(root, ctx, id) {
  const ticket = await api.get(`/v1/support/tickets/${encodeURIComponent(id)}`);
  const thread = h("ol", { class: "thread", "aria-label": "Conversation" }, ticket.messages.map(messageItem));
  const state = h("p", { class: "muted" }, `${STATUS[ticket.status] || ticket.status} · opened ${formatDate(ticket.created_at)}`);
  const message = h("textarea", { id: "reply-message", name: "message", rows: 4, required: true, maxlength: 10000 });
  const files = fileInput("reply-files");
  const form = onSubmit(
    h(
      "form",
      { class: "stack wide" },
      h("label", { for: "reply-message" }, "Your reply"),
      message,
      h("label", { for: "reply-files" }, "Images (optional)"),
      files,
      h("p", { class: "help", id: "reply-files-help" }, `Up to ${MAX_FILES} JPEG, PNG or WebP images.`),
      h("button", { type: "submit" }, "Send reply"),
      h("p", { class: "error", role: "alert" }),
    ),
    async () => {
      const body = new FormData();
      body.append("message", message.value);
      attach(body, files);
      thread.append(messageItem(await api.postForm(`/v1/support/tickets/${ticket.id}/messages`, body)));
      message.value = "";
      files.value = "";
      ctx.notify("Reply sent.");
    },
  );
  replace(
    root,
    h("p", {}, h("a", { href: "#/support" }, "← All tickets")),
    h("section", { class: "panel", "aria-labelledby": "ticket-h" }, h("h1", { id: "ticket-h" }, ticket.subject), state, thread),
    h("section", { class: "panel", "aria-labelledby": "reply-h" }, h("h2", { id: "reply-h" }, "Reply"), form),
  );
}
