// The cookie banner. Essential cookies are always on; every optional category is off until the person
// chooses; "Reject optional" is one click, like "Accept all". A browser sending Global Privacy Control is
// honoured without asking, and told so. The choice goes to POST /v1/consents with this device's id, which
// every API request carries, so it is tied to the account as soon as the person signs in.

import { api, deviceId } from "./api.js";
import { h, replace } from "./dom.js";
import { notify } from "./notice.js";

const CHOSEN = "atelier.consent";
// Cookie categories only: "Accept all" covers these and nothing else.
const CATEGORIES = [
  { id: "analytics", label: "Analytics", help: "Count which features are used, so we know what to improve." },
  { id: "marketing", label: "Marketing", help: "Tell you about new features and offers." },
];
// Using a person's images to improve the service is an account choice, asked on its own (Privacy, Your choices),
// in these same words there and in the privacy policy.
export const IMPROVEMENT_WORDS =
  "Service improvement: anonymised copies of the images generated for you help improve Atelier. It is a choice in your account, separate from cookies.";

export function gpcOn() {
  return navigator.globalPrivacyControl === true;
}

export async function bannerNeeded() {
  if (localStorage.getItem(CHOSEN)) return false;
  try {
    const current = await api.get(`/v1/consents/current?device_id=${encodeURIComponent(deviceId())}`);
    if (current.recorded_at) {
      localStorage.setItem(CHOSEN, JSON.stringify(current.categories));
      return false;
    }
  } catch {
    // unreachable API: ask anyway, the choice is sent when it is made
  }
  return true;
}

async function record(categories) {
  const policy = await api.publicGet("/v1/policies/current");
  const saved = await api.post("/v1/consents", { device_id: deviceId(), categories, notice_version: policy.version });
  localStorage.setItem(CHOSEN, JSON.stringify(saved.categories));
  return saved;
}

export function showBanner({ settings = false }) {
  const slot = document.getElementById("banner-slot");
  const previous = JSON.parse(localStorage.getItem(CHOSEN) || "{}");
  const gpc = gpcOn();
  const status = h("p", { class: "banner-status", role: "status" });
  const boxes = CATEGORIES.map((c) => h("input", { type: "checkbox", role: "switch", id: `consent-${c.id}`, checked: !!previous[c.id] && !gpc }));
  const opener = document.activeElement;
  const close = () => {
    document.removeEventListener("keydown", onKey);
    replace(slot);
    if (opener && opener.isConnected && opener !== document.body) opener.focus();
  };
  // Esc closes the settings a person opened; the first-visit banner stays until a choice is made.
  const onKey = (event) => {
    if (event.key === "Escape" && settings) close();
  };
  document.addEventListener("keydown", onKey);
  const done = async (categories) => {
    try {
      const saved = await record(categories);
      close();
      notify(
        saved.gpc
          ? "Your choices are saved. Your browser's Global Privacy Control signal was honoured: analytics and marketing stay off."
          : "Your cookie choices are saved.",
      );
    } catch (error) {
      status.textContent = error.message;
    }
  };
  const all = (value) => Object.fromEntries(CATEGORIES.map((c) => [c.id, value]));
  const banner = h(
    "section",
    { class: "banner", role: "region", "aria-label": "Cookie choices" },
    h(
      "div",
      { class: "banner-head" },
      h("h2", {}, "Cookies and your choices"),
      settings ? h("button", { type: "button", class: "small quiet", "aria-label": "Close", onclick: () => close() }, "×") : null,
    ),
    h(
      "p",
      {},
      "Atelier uses essential cookies to keep you signed in and remember these choices. Optional ones stay off unless you turn them on. ",
      h("a", { href: "#/policy/privacy" }, "Read the privacy policy"),
      ".",
    ),
    gpc
      ? h("p", { class: "gpc" }, "Your browser sends a Global Privacy Control signal, so analytics and marketing stay off; we honour it without asking.")
      : null,
    h(
      "details",
      { open: settings || undefined },
      h("summary", {}, "Choose categories"),
      h(
        "ul",
        { class: "choices" },
        h("li", {}, h("input", { type: "checkbox", id: "consent-essential", checked: true, disabled: true }), h("label", { for: "consent-essential" }, "Essential (always on)")),
        CATEGORIES.map((c, i) =>
          h("li", {}, boxes[i], h("label", { for: `consent-${c.id}` }, c.label), h("span", { class: "help" }, c.help)),
        ),
      ),
      h("p", { class: "help improvement" }, IMPROVEMENT_WORDS, " ", h("a", { href: "#/privacy" }, "Your account choices"), "."),
      h("button", { type: "button", class: "quiet", onclick: () => done(Object.fromEntries(CATEGORIES.map((c, i) => [c.id, boxes[i].checked]))) }, "Save choices"),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => done(all(false)) }, "Reject optional"),
      h("button", { type: "button", onclick: () => done(all(true)) }, "Accept all"),
    ),
    status,
  );
  replace(slot, banner);
}
