// The unseen-notices count beside `Notices` in the navigation: read after every page change and whenever
// a notice is opened, hidden when signed out or when everything was seen.

import { api } from "./api.js";
import { signedIn } from "./session.js";

const PAGE = 50; // counts up to this many; more shows as "50+"

export async function refreshUnseen() {
  const badge = document.getElementById("unseen-count");
  if (!badge) return;
  let unseen = 0;
  let more = false;
  if (signedIn()) {
    try {
      const page = await api.get(`/v1/me/notifications?limit=${PAGE}`);
      unseen = page.items.filter((n) => !n.seen_at).length;
      more = unseen === PAGE && !!page.next_cursor;
    } catch {
      unseen = 0; // the count is a hint; the page itself shows any failure
    }
  }
  badge.hidden = unseen === 0;
  // On phones the navigation is folded into "Menu": a dot on the button says something is new.
  document.getElementById("menu-toggle")?.classList.toggle("has-new", unseen > 0);
  badge.textContent = unseen ? `${unseen}${more ? "+" : ""} new` : "";
}
