// The page's status line: a short message under the header, in a slot whose space is always kept (app.css), so it
// moves nothing when it comes or goes and covers no field or link; gone after a while; screen readers hear it
// (role="status", always in the page).

import { h, replace } from "./dom.js";

const SHOWN_MS = 6000;
const WITH_LINK_MS = 12000; // time to reach the link
let timer = null;

// `link` ({href, label}): where there is somewhere to go (a job that ended while the person was elsewhere).
export function notify(message, link = null) {
  const notice = document.getElementById("notice");
  replace(notice, message, link ? [" ", h("a", { href: link.href, onclick: () => replace(notice) }, link.label)] : null);
  clearTimeout(timer);
  timer = setTimeout(() => replace(notice), link ? WITH_LINK_MS : SHOWN_MS);
}
