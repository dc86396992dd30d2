// Just enough Markdown for the policy texts (headings, paragraphs, lists, emphasis, links), built as DOM
// nodes so a policy text can never inject markup. Headings are demoted one level: the page owns the h1.
// With `anchors` (one text per page), each heading and each list item that opens with a bold term
// ("- **Safety checks**: ...") gets an id from its words (`sectionId`), so a link can land on it:
// `#/policy/privacy/safety-checks` (views/policy.js).

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

export function sectionId(words) {
  const slug = words.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return `section-${slug}`;
}

export function renderMarkdown(source, { anchors = false } = {}) {
  const root = h("div", { class: "markdown" });
  let list = null;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) root.append(h("p", {}, inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (const raw of source.split(/\r?\n/)) {
    const line = raw.trim();
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const item = /^([-*]|\d+\.)\s+(.*)$/.exec(line);
    if (!line) {
      flush();
      list = null;
    } else if (heading) {
      flush();
      list = null;
      root.append(h(`h${Math.min(6, heading[1].length + 1)}`, anchors ? { id: sectionId(heading[2]) } : {}, inline(heading[2])));
    } else if (item) {
      flush();
      if (!list) {
        list = h(/\d/.test(item[1]) ? "ol" : "ul");
        root.append(list);
      }
      const term = /^\*\*([^*]+)\*\*/.exec(item[2]);
      list.append(h("li", anchors && term ? { id: sectionId(term[1]) } : {}, inline(item[2])));
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
