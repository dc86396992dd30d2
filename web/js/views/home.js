// The first visit, signed out: what Atelier does, examples from the public gallery (a few example prompts on a
// deployment with none yet), and the ways on: Get started (sign in), Pricing, Privacy. Nothing optional runs here.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { tryHref } from "../handoff.js";

const EXAMPLE_PROMPTS = [
  "A lighthouse on a cliff at dawn, watercolor",
  "A cozy reading nook with a cat, warm evening light",
  "A paper-cut city skyline at night, layered and colorful",
  "A bowl of ramen as a product photo, soft studio light",
  "An astronaut tending a greenhouse on Mars, children's book style",
];


export async function render(root) {
  const examples = h("div", { class: "examples" }, h("p", { class: "muted" }, "Loading examples…"));
  root.append(
    h(
      "section",
      { class: "hero" },
      h("h1", {}, "Make and edit images from words"),
      h("p", { class: "lede" }, "Atelier turns a sentence into pictures, edits them with an instruction, and keeps them in your own private history."),
      h(
        "p",
        { class: "hero-actions" },
        h("a", { href: "#/studio", class: "button primary" }, "Get started"),
        h("a", { href: "#/pricing", class: "button quiet" }, "Pricing"),
        h("a", { href: "#/policy/privacy", class: "button quiet" }, "Privacy"),
      ),
    ),
    h("section", { class: "panel", "aria-labelledby": "examples-h" }, h("h2", { id: "examples-h" }, "Made with Atelier"), examples),
  );
  let items = [];
  try {
    items = (await api.publicGet("/v1/gallery?limit=8")).items;
  } catch {
    items = [];
  }
  if (items.length) {
    replace(
      examples,
      h(
        "ul",
        { class: "tiles gallery", "aria-label": "Examples from the gallery" },
        items.map((item) =>
          h(
            "li",
            { class: "tile" },
            h("a", { href: `#/image/${item.id}`, class: "thumb" }, h("img", { src: item.thumbnail_url, alt: item.prompt || "An example image", loading: "lazy", width: item.width, height: item.height })),
            item.prompt ? h("p", { class: "caption" }, item.prompt) : null,
          ),
        ),
      ),
      h("p", {}, h("a", { href: "#/gallery" }, "See the whole gallery")),
    );
  } else {
    replace(
      examples,
      h("p", { class: "help" }, "No one has shared an image yet. Some prompts to start with:"),
      h(
        "ul",
        { class: "example-prompts", "aria-label": "Example prompts" },
        EXAMPLE_PROMPTS.map((prompt) => h("li", {}, h("q", {}, prompt), " ", h("a", { href: tryHref(prompt) }, "Try this prompt"))),
      ),
    );
  }
}
