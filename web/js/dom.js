// Tiny DOM helpers: views build real elements (no innerHTML with data), so text from the API is never markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function formatDate(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatDay(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function formatMoney(amount, currency) {
  if (amount === null || amount === undefined || !currency) return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(amount / 100);
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

// Moves focus to a view's heading after navigation, so screen readers announce the new page.
export function focusHeading(root) {
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// One way to submit a form: its submit button disabled while `action` runs, a failure's sentence in the form's
// alert (role="alert"), the button enabled again (if still on the page). Returns the form.
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type="submit"]');
    const alert = form.querySelector('[role="alert"]');
    if (alert) alert.textContent = "";
    if (button) button.disabled = true;
    try {
      await action(event);
    } catch (failure) {
      if (alert) alert.textContent = failure.message;
      else throw failure;
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}
