// Correct my details, restrict processing (and lift it), delete my account (and cancel during the grace period).

import { api } from "../api.js";
import { h, replace, formatDay, plural } from "../dom.js";
import { deletionSummary } from "./holdings.js";

export function correctSection(me, ctx) {
  const fields = [
    { id: "display_name", label: "Display name" },
    { id: "full_name", label: "Full name" },
  ];
  const error = h("div", { class: "error", role: "alert" });
  const inputs = fields.map((f) => h("input", { id: `fix-${f.id}`, name: f.id, value: me[f.id] || "", maxlength: "200", autocomplete: f.id === "full_name" ? "name" : "nickname" }));
  const form = h(
    "form",
    { class: "stack" },
    fields.map((f, i) => h("p", { class: "field" }, h("label", { for: `fix-${f.id}` }, f.label), inputs[i])),
    h("p", {}, h("span", {}, "Email: ", me.email || "—"), h("span", { class: "help" }, " (the address you sign in with)")),
    error,
    h("button", { type: "submit" }, "Save changes"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = Object.fromEntries(inputs.map((input) => [input.name, input.value.trim() || null]));
    try {
      await api.patch("/v1/me", body);
      await ctx.refreshMe();
      ctx.notify("Your details are saved.");
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  return h("section", { class: "panel", "aria-labelledby": "fix-h" }, h("h2", { id: "fix-h" }, "Correct your details"), form);
}

export function restrictionSection(me, ctx) {
  const on = !!me.restricted;
  const button = h("button", { type: "button" }, on ? "Lift the restriction" : "Restrict processing");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api.put("/v1/me/restriction", { restricted: !on });
      await ctx.refreshMe();
      ctx.notify(on ? "The restriction is lifted." : "Processing is restricted.");
      ctx.reload();
    } catch (failure) {
      ctx.notify(failure.message);
      button.disabled = false;
    }
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "restrict-h" },
    h("h2", { id: "restrict-h" }, "Restrict processing"),
    h("p", { class: "state" }, on ? "Processing of your data is restricted: we keep it, but do nothing optional with it." : "Processing is not restricted."),
    h("p", { class: "help" }, "While restricted, your data is kept but no analytics, emails, gallery display or service improvement use it."),
    button,
  );
}

export function deletionSection(data, ctx) {
  const confirm = h("div", { class: "confirm", hidden: true });
  const start = h("button", { type: "button", class: "danger" }, "Delete my account");
  const days = data.deletion_grace_days;
  start.addEventListener("click", () => {
    start.hidden = true;
    confirm.hidden = false;
    confirm.querySelector("button").focus();
  });
  const yes = h("button", { type: "button", class: "danger" }, "Yes, delete my account");
  const no = h("button", { type: "button", class: "quiet" }, "Keep my account");
  no.addEventListener("click", () => {
    confirm.hidden = true;
    start.hidden = false;
    start.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    try {
      await api.delete("/v1/me");
      await ctx.refreshMe();
      ctx.reload();
    } catch (failure) {
      ctx.notify(failure.message);
      yes.disabled = false;
    }
  });
  replace(
    confirm,
    h("p", { role: "alert" }, `Your account is locked at once and deleted ${days ? `after ${plural(days, "day", "days")}` : "shortly"}. Until then you can cancel and download your data.`),
    yes,
    " ",
    no,
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "delete-h" },
    h("h2", { id: "delete-h" }, "Delete your account"),
    h("p", {}, days ? `Deleting locks your account now; ${plural(days, "day", "days")} later everything listed as deleted is erased. You can cancel until then.` : "Deleting locks your account now and erases it shortly, at the next erasure run."),
    deletionSummary(data),
    start,
    confirm,
  );
}

// The whole page while a deletion is pending: the date, Cancel deletion, what goes and what stays.
export function lockedSection(me, data, ctx) {
  const cancel = h("button", { type: "button", class: "primary" }, "Cancel deletion");
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api.post("/v1/me/deletion/cancel");
      await ctx.refreshMe();
      ctx.notify("Deletion canceled. Your account is back.");
      ctx.reload();
    } catch (failure) {
      ctx.notify(failure.message);
      cancel.disabled = false;
    }
  });
  return h(
    "section",
    { class: "panel locked", "aria-labelledby": "locked-h" },
    h("h2", { id: "locked-h" }, "Your account is scheduled for deletion"),
    h("p", { class: "big" }, `It will be deleted on ${formatDay(me.deletion_scheduled_for)}.`),
    h("p", {}, "Until then it is locked: you can download your data or cancel the deletion."),
    cancel,
    data ? deletionSummary(data) : null,
  );
}
