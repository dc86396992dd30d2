// Just enough Markdown for the policy texts (headings, paragraphs, lists, tables, emphasis, links), built as DOM
// nodes so a policy text can never inject markup. Headings are demoted one level: the page owns the h1. With
// `{ anchors: true }` each heading gets an id from its text ("Automated decisions" → `automated-decisions`), so
// `#/policy/privacy#automated-decisions` can point at a section.

import { h } from "./dom.js";

function inline(text) {
  const out = [];
  const pattern = /(\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    out.push(text.slice(last, match.index));
    if (match[2]) out.push(h("strong", {}, match[2]));
    else if (match[3]) out.push(h("em", {}, match[3]));
    else if (match[4]) out.push(h("code", {}, match[4]));
    else {
      const safe = /^(https?:|mailto:|#)/.test(match[6]) ? match[6] : null;
      out.push(safe ? h("a", { href: safe, rel: "noopener" }, match[5]) : match[5]);
    }
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}

export function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

const cells = (line) => line.trim().replace(/^\||\|$/g, "").split("|").map((cell) => cell.trim());

export function renderMarkdown(source, { anchors = false } = {}) {
  const root = h("div", { class: "markdown" });
  let list = null;
  let table = null;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) root.append(h("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (const raw of source.split(/\r?\n/)) {
    const line = raw.trim();
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^([-*]|\d+\.)\s+(.*)$/.exec(line);
    if (line.startsWith("|")) {
      flush();
      list = null;
      if (/^\|[\s|:-]+\|$/.test(line)) continue; // the header's underline
      if (!table) {
        const head = h("tr", {}, cells(line).map((cell) => h("th", { scope: "col" }, inline(cell))));
        table = h("tbody");
        root.append(h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": cells(line)[0] }, h("table", {}, h("thead", {}, head), table)));
      } else table.append(h("tr", {}, cells(line).map((cell) => h("td", {}, inline(cell)))));
      continue;
    }
    table = null;
    if (!line) {
      flush();
      list = null;
    } else if (heading) {
      flush();
      list = null;
      const attrs = anchors ? { id: slug(heading[2]) } : {};
      root.append(h(`h${Math.min(6, heading[1].length + 1)}`, attrs, inline(heading[2])));
    } else if (item) {
      flush();
      if (!list) {
        list = h(/\d/.test(item[1]) ? "ol" : "ul");
        root.append(list);
      }
      const term = /^\*\*([^*]+)\*\*/.exec(item[2]);
      list.append(h("li", anchors && term ? { id: slug(term[1]) } : {}, inline(item[2])));
    } else if (list && raw.startsWith("  ")) {
      list.lastChild.append(" ", ...inline(line));
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
  return root;
}
