// Privacy: the account's choices about optional processing, effective at once on every device. (The full
// privacy center — exports, deletion, restriction, notices — builds on this page.)

import { api } from "../api.js";
import { h } from "../dom.js";
import { showBanner } from "../consent.js";

const CHOICES = [
  { id: "analytics", label: "Analytics", help: "Count which features you use, so we know what to improve." },
  { id: "marketing_emails", label: "Marketing emails", help: "News about features and offers." },
  { id: "service_improvement", label: "Service improvement", help: "Use your prompts, anonymised, to improve results." },
  { id: "gallery_display", label: "Show my images as examples", help: "Images you publish appear in the public gallery." },
];

export async function render(root, ctx) {
  const prefs = await api.get("/v1/me/preferences");
  const switches = CHOICES.map((c) => {
    const id = `pref-${c.id}`;
    const box = h("input", { type: "checkbox", role: "switch", id, checked: !!prefs[c.id], "aria-describedby": `${id}-help` });
    box.addEventListener("change", async () => {
      box.disabled = true;
      try {
        const saved = await api.put("/v1/me/preferences", { [c.id]: box.checked });
        box.checked = !!saved[c.id];
        ctx.notify(`${c.label}: ${box.checked ? "on" : "off"}.`);
      } catch (error) {
        box.checked = !box.checked;
        ctx.notify(error.message);
      }
      box.disabled = false;
    });
    return h("li", { class: "switch-row" }, h("span", { class: "switch" }, box, h("label", { for: id }, c.label)), h("p", { class: "help", id: `${id}-help` }, c.help));
  });
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Privacy"), h("p", { class: "lede" }, "Your choices apply at once, on every device you use. Optional processing is off until you turn it on.")),
    h("section", { class: "panel", "aria-labelledby": "choices-h" }, h("h2", { id: "choices-h" }, "Your choices"), h("ul", { class: "switches" }, switches)),
    h(
      "section",
      { class: "panel", "aria-labelledby": "more-h" },
      h("h2", { id: "more-h" }, "More"),
      h(
        "ul",
        { class: "links" },
        h("li", {}, h("a", { href: "#/policy/privacy" }, "Read the privacy policy")),
        h("li", {}, h("a", { href: "#/policy/terms" }, "Read the terms")),
        h("li", {}, h("button", { type: "button", class: "linkish", onclick: () => showBanner({ settings: true }) }, "Change cookie choices on this device")),
      ),
    ),
  );
}
