// Notices: what Atelier told the person (policy changes, exports ready, deletion scheduled, moderation).
// Each notice is marked seen when it is opened, and the count in the navigation follows.

import { api } from "../api.js";
import { h, formatDate } from "../dom.js";
import { refreshUnseen } from "../unseen.js";

export async function render(root, ctx) {
  const list = h("ul", { class: "notices", "aria-label": "Your notices" });
  const status = h("p", { class: "muted", role: "status" });
  let cursor = null;
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => next() }, "Load more");
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Notices"), h("p", { class: "lede" }, "What we told you, newest first. Open one to read it.")), list, status, more);

  async function next() {
    try {
      await load();
    } catch (error) {
      status.textContent = error.message; // shown, not thrown: a failed "Load more" stays on the page
    }
  }

  async function load() {
    const query = new URLSearchParams({ limit: "20" });
    if (cursor) query.set("cursor", cursor);
    const page = await api.get(`/v1/me/notifications?${query}`);
    for (const notice of page.items) list.append(item(notice));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    status.textContent = list.children.length ? "" : "No notices.";
  }

  function item(notice) {
    const badge = h("span", { class: "unseen-tag" }, notice.seen_at ? "" : "New");
    const details = h(
      "details",
      { class: `notice-item${notice.seen_at ? "" : " unseen"}` },
      h("summary", {}, h("span", { class: "notice-title" }, notice.title), badge, h("time", { class: "muted", datetime: notice.created_at }, formatDate(notice.created_at))),
      h("p", {}, notice.body),
      notice.kind === "policy_update" ? h("p", {}, h("a", { href: "#/policy/privacy" }, "Read the privacy policy"), " · ", h("a", { href: "#/policy/terms" }, "Read the terms")) : null,
      appeal(notice),
    );
    details.addEventListener("toggle", async () => {
      if (!details.open || notice.seen_at) return;
      try {
        notice.seen_at = (await api.post(`/v1/me/notifications/${notice.id}/seen`)).seen_at;
        details.classList.remove("unseen");
        badge.textContent = "";
        refreshUnseen();
      } catch (error) {
        ctx.notify(error.message);
      }
    });
    return h("li", {}, details);
  }

  // A notice that states the reasons of a moderation decision offers "Appeal" (a support ticket linked to the
  // decision), or the appeal already open; the outcome of an appeal is a notice of its own.
  function appeal(notice) {
    if (!notice.decision_id || notice.kind === "appeal_decided") return null;
    if (notice.appeal_ticket_id) return h("p", {}, "You appealed this decision. ", h("a", { href: `#/support/${notice.appeal_ticket_id}` }, "See your appeal"));
    return h(
      "p",
      { class: "appeal" },
      h("a", { class: "button small", href: `#/support/appeal/${notice.decision_id}` }, "Appeal"),
      " ",
      h("a", { href: "#/policy/privacy#automated-decisions" }, "How decisions and appeals work"),
    );
  }

  await load(); // a failure here shows the app's error panel, as every page's first load does
}
