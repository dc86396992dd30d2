// The account's choices about optional processing: each switch saves at once (the API records a consent event).

import { api } from "../api.js";
import { h } from "../dom.js";
import { IMPROVEMENT_WORDS, showBanner } from "../consent.js";

const CHOICES = [
  { id: "gallery_display", label: "Show my images as examples", help: "Images you publish appear in the public gallery. Off: they leave it at once." },
  { id: "analytics", label: "Analytics", help: "Count which features you use, so we know what to improve." },
  { id: "marketing_emails", label: "Marketing emails", help: "News about features and offers." },
  { id: "service_improvement", label: "Service improvement", help: IMPROVEMENT_WORDS },
];

export function choicesSection(prefs, ctx) {
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
  return h(
    "section",
    { class: "panel", "aria-labelledby": "choices-h" },
    h("h2", { id: "choices-h" }, "Your choices"),
    h("p", { class: "help" }, "Each change applies at once, on every device, and is recorded. Optional processing is off until you turn it on."),
    h("ul", { class: "switches" }, switches),
    h("p", {}, h("button", { type: "button", class: "linkish", onclick: () => showBanner({ settings: true }) }, "Change cookie choices on this device")),
  );
}
