// Any address the app does not know: say so, and offer the way back.

import { h } from "../dom.js";
import { signedIn } from "../session.js";

export async function render(root) {
  root.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Page not found"),
      h("p", {}, "There is no page at this address. It may have moved, or the link may be incomplete."),
      h("p", {}, signedIn() ? h("a", { href: "#/studio" }, "Go to the Studio") : h("a", { href: "#/" }, "Go to the start page"), " · ", h("a", { href: "#/gallery" }, "Browse the gallery")),
    ),
  );
}
