// Gallery items as the public gallery listed them (GET /v1/gallery), kept for the tab so an image's page can show
// a public image's fields after a click or a reload.

const KEY = "atelier.gallery.items";
const KEEP = 200;

function all() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "{}") || {};
  } catch {
    return {};
  }
}

export function keepGalleryItems(items) {
  const known = all();
  for (const item of items) known[item.id] = item;
  const ids = Object.keys(known);
  for (const old of ids.slice(0, Math.max(0, ids.length - KEEP))) delete known[old];
  sessionStorage.setItem(KEY, JSON.stringify(known));
}

export function takeGalleryItem(id) {
  return all()[id] || null;
}
