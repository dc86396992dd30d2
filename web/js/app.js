// The shell: runtime config, sign-in state, the gates a person must pass (onboarding, a changed policy),
// the cookie banner, and hash routing (a reload or a shared link lands on the same page).

import { api, on } from "./api.js";
import { loadConfig } from "./config.js";
import { showBanner, bannerNeeded } from "./consent.js";
import { h, replace, focusHeading } from "./dom.js";
import { onJobEnd, resumeTracked, stopAll } from "./jobs.js";
import { notify } from "./notice.js";
import * as session from "./session.js";
import { refreshUnseen } from "./unseen.js";

const VIEWS = {
  home: { load: () => import("./views/home.js"), title: "Make images from words", private: false },
  pricing: { load: () => import("./views/pricing.js"), title: "Pricing", private: false },
  notfound: { load: () => import("./views/notfound.js"), title: "Page not found", private: false },
  studio: { load: () => import("./views/studio.js"), title: "Studio", private: true },
  history: { load: () => import("./views/history.js"), title: "History", private: true },
  gallery: { load: () => import("./views/gallery.js"), title: "Gallery", private: false },
  credits: { load: () => import("./views/credits.js"), title: "Credits", private: true },
  privacy: { load: () => import("./views/privacy.js"), title: "Privacy", private: true },
  policy: { load: () => import("./views/policy.js"), title: "Policy", private: false },
  support: { load: () => import("./views/support.js"), title: "Support", private: true },
  notices: { load: () => import("./views/notices.js"), title: "Notices", private: true },
  contact: { load: () => import("./views/contact.js"), title: "Contact us", private: false },
  image: { load: () => import("./views/image.js"), title: "Image", private: false },
};

// Pages a locked account (deletion pending) still sees; every other page shows Privacy with the date and `Cancel
// deletion`. The API allows the same reads (shared/privacy/erasure.py, locked_may).
const UNLOCKED_VIEWS = new Set(["privacy", "notices"]);
// Pages open while a material policy change awaits acceptance: the person may export or delete their data, read
// the notice, or ask us about the change first (the API exempts the same routes: shared/policies/service.py).
const GATE_OPEN_VIEWS = new Set(["privacy", "notices", "support"]);
const main = document.getElementById("main");
const menuButton = document.getElementById("menu-toggle");
const who = document.getElementById("who");
let me = null;
let cleanup = null;
let renderCount = 0;

// A job that ends while the person is elsewhere in the app: a notice linking to what it made.
function jobEnded(job) {
  if (parseRoute().name === "studio") return; // the feed shows it where the eye is
  if (job.status === "succeeded" && job.outputs.length) {
    notify(`Your ${job.outputs.length === 1 ? "image is" : "images are"} ready.`, { href: `#/image/${job.outputs[0].id}`, label: "Open it" });
  } else if (job.status === "succeeded") notify("Your job is done.", { href: "#/studio", label: "Open the Studio" });
  else if (job.status === "failed") notify("A job failed; its credits were returned.", { href: "#/studio", label: "Open the Studio" });
}

// `#/name/arg…?key=value`: the query carries state a link hands to a page (e.g. `#/studio?prompt=…`).
function parseRoute() {
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const query = new URLSearchParams(search);
  if (!name) return { name: session.signedIn() ? "studio" : "home", args: [], query };
  return { name: VIEWS[name] && name !== "notfound" ? name : "notfound", args: rest.map(decodeURIComponent), query };
}

async function refreshMe() {
  me = session.signedIn() ? await api.get("/v1/me") : null;
  renderWho();
  return me;
}

function renderWho() {
  if (!me) {
    replace(who, h("a", { href: "#/studio", class: "button small" }, "Sign in"));
    return;
  }
  replace(
    who,
    h("span", { class: "email", title: me.email || "" }, me.display_name || me.email || "Signed in"),
    h("button", { type: "button", class: "small quiet", onclick: () => signOut() }, "Sign out"),
  );
}

function signOut() {
  stopAll();
  session.signOut();
  me = null;
  renderWho();
  location.hash = "#/";
  route();
}

// On phones the navigation folds into the "Menu" button (CSS shows the button below 52rem only).
function setMenu(open) {
  menuButton.setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("menu-open", open);
}

function markCurrent(name) {
  setMenu(false);
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  const mine = ++renderCount;
  if (cleanup) cleanup();
  cleanup = null;
  const { name, args, query } = parseRoute();
  const view = VIEWS[name];
  markCurrent(name);
  document.title = `${view.title} · Atelier Studio`;
  const ctx = { me, notify, refreshMe, navigate: (hash) => (location.hash = hash), args, query, reload: () => route() };
  try {
    let module;
    const wanted = view.load(); // fetched while the account loads
    wanted.catch(() => {});
    if (view.private && !session.signedIn()) module = await import("./views/signin.js");
    else if (view.private && session.signedIn()) {
      if (!me) await refreshMe();
      ctx.me = me;
      if (!me.onboarding.done) module = await import("./views/onboarding.js");
      else if (me.policies_to_accept.length && !GATE_OPEN_VIEWS.has(name)) module = await import("./views/accept.js");
      else if (me.deletion_scheduled_for && !UNLOCKED_VIEWS.has(name)) module = await import("./views/privacy.js"); // locked: date + Cancel deletion
    }
    module = module || (await wanted);
    if (mine !== renderCount) return;
    const target = h("div", { class: `view view-${name}` });
    replace(main, target);
    cleanup = (await module.render(target, ctx)) || null;
    if (mine === renderCount) focusHeading(target);
    refreshUnseen();
  } catch (error) {
    if (mine !== renderCount) return;
    replace(main, h("section", { class: "panel" }, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, error.message)));
  }
}

async function start() {
  await loadConfig();
  try {
    if (!(await session.completeRedirect())) await session.restore(); // a reload: the session cookie, if any
  } catch (error) {
    notify(error.message);
  }
  // A 428 anywhere: the changed policy is shown before anything else.
  on("policy", async () => {
    await refreshMe();
    route();
  });
  on("auth", () => {
    me = null;
    renderWho();
    route();
  });
  session.onChange(() => {
    if (!session.signedIn()) {
      me = null;
      renderWho();
    }
  });
  window.addEventListener("hashchange", route);
  onJobEnd(jobEnded);
  if (session.signedIn()) resumeTracked();
  // A link to the page already shown (Studio after the under-13 page, say) shows it afresh instead of nothing.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#"]');
    if (link && !event.defaultPrevented && link.getAttribute("href") === (location.hash || "#/")) route();
  });
  menuButton.addEventListener("click", () => setMenu(menuButton.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menuButton.getAttribute("aria-expanded") === "true") {
      setMenu(false);
      menuButton.focus();
    }
  });
  document.getElementById("cookie-settings").addEventListener("click", () => showBanner({ settings: true }));
  if (session.signedIn()) await refreshMe().catch(() => {});
  renderWho();
  await route();
  if (await bannerNeeded()) showBanner({});
}

start();
