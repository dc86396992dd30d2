// Pages hand an image, a prompt or settings to the Studio through sessionStorage (one hand-off, read once), so
// no view imports another: History, Gallery and the image page write it, the Studio takes it.

const KEY = "atelier.studio";

export function handOff(value) {
  sessionStorage.setItem(KEY, JSON.stringify(value));
}

export function takeHandOff() {
  let value = null;
  try {
    value = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    value = null;
  }
  sessionStorage.removeItem(KEY);
  return value;
}

// "Try this prompt" (Gallery, the start page, a public image page): the Studio's Create with the prompt filled in.
export const tryHref = (prompt) => `#/studio?${new URLSearchParams({ prompt })}`;
