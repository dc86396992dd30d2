// "Download my data": ask for an export, watch it build, download the archive while its link is valid, and
// see past exports. Open while a deletion is pending too: the right of access outlives the wish to be deleted.

import { api } from "../api.js";
import { h, replace, formatDate } from "../dom.js";

const POLL_MS = 1500;
const STATUS = { pending: "Waiting to start", building: "Being prepared", ready: "Ready", failed: "Failed", expired: "Expired" };

function exportRow(e) {
  return h(
    "li",
    { class: "export-row" },
    h("span", {}, `Requested ${formatDate(e.requested_at)}: `, h("strong", {}, STATUS[e.status] || e.status)),
    e.url ? h("span", {}, " ", h("a", { href: e.url, download: "" }, "Download archive"), h("span", { class: "help" }, ` · link valid until ${formatDate(e.expires_at)}`)) : null,
  );
}

export function exportsSection(ctx) {
  const list = h("ul", { class: "exports", "aria-label": "Your exports" });
  const status = h("p", { role: "status", class: "help" });
  const button = h("button", { type: "button", class: "primary" }, "Download my data");
  let timer = null;
  let alive = true;

  async function refresh() {
    const page = await api.get("/v1/me/exports?limit=10");
    replace(list, page.items.length ? page.items.map(exportRow) : h("li", { class: "muted" }, "No exports yet."));
    return page.items;
  }

  async function watch(id) {
    if (!alive) return;
    const e = await api.get(`/v1/me/exports/${id}`);
    if (e.status === "pending" || e.status === "building") {
      status.textContent = "Your archive is being prepared…";
      timer = setTimeout(() => watch(id).catch((err) => (status.textContent = err.message)), POLL_MS);
      return;
    }
    status.textContent = e.status === "ready" ? "Your archive is ready." : `The export ${STATUS[e.status].toLowerCase()}.`;
    button.disabled = false;
    await refresh();
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Asking for your archive…";
    try {
      const created = await api.post("/v1/me/exports");
      await refresh();
      await watch(created.id);
    } catch (error) {
      status.textContent = error.message;
      button.disabled = false;
    }
  });

  const section = h(
    "section",
    { class: "panel", "aria-labelledby": "export-h" },
    h("h2", { id: "export-h" }, "Download my data"),
    h("p", { class: "help" }, "A ZIP with everything we hold about you, including your images. The link stays valid for a few days."),
    button,
    status,
    list,
  );
  const ready = refresh()
    .then((items) => {
      const open = items.find((e) => e.status === "pending" || e.status === "building");
      if (open) {
        button.disabled = true;
        return watch(open.id);
      }
      return undefined;
    })
    .catch((error) => ctx.notify(error.message));
  const stop = () => {
    alive = false;
    clearTimeout(timer);
  };
  return { section, ready, stop };
}
