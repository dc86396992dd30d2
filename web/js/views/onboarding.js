// First sign-in: the age check and acceptance of the privacy policy and terms. Under 13 the API deletes the
// account at once; the page says so plainly and signs out, keeping nothing.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { signOut } from "../session.js";

export async function render(root, ctx) {
  const policy = await api.publicGet("/v1/policies/current");
  const birth = h("input", { id: "onboarding-birth", type: "date", required: true, max: new Date().toISOString().slice(0, 10), autocomplete: "bday" });
  const accept = h("input", { id: "onboarding-accept", type: "checkbox", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit" }, "Continue");
  const panel = h("section", { class: "panel narrow" });
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        if (!birth.value) {
          error.textContent = "Please enter your date of birth.";
          birth.focus();
          return;
        }
        if (!accept.checked) {
          error.textContent = "Please accept the privacy policy and terms to continue.";
          accept.focus();
          return;
        }
        button.disabled = true;
        try {
          await api.post("/v1/me/onboarding", { birth_date: birth.value, accepted_policy_version: policy.version });
          await ctx.refreshMe();
          ctx.notify("Welcome to Atelier. Your free credits are ready.");
          ctx.reload();
        } catch (failure) {
          if (failure.code === "underage") {
            signOut();
            replace(
              panel,
              h("h1", {}, "Sorry, Atelier is for people 13 and older"),
              h("p", { role: "alert" }, "We could not create your account. Nothing about you has been kept: your account and anything you uploaded were deleted."),
              h("p", {}, h("a", { href: "#/" }, "Back to the start page"), " · ", h("a", { href: "#/gallery" }, "Browse the gallery")),
            );
            panel.querySelector("h1").focus();
            return;
          }
          error.textContent = failure.message;
          button.disabled = false;
        }
      },
    },
    h("label", { for: "onboarding-birth" }, "Date of birth"),
    birth,
    h("p", { class: "help" }, "We only check that you are 13 or older; your date of birth is not stored."),
    h(
      "div",
      { class: "check" },
      accept,
      h("label", { for: "onboarding-accept" }, "I accept the privacy policy and terms"),
    ),
    h(
      "p",
      { class: "help" },
      "Read the ",
      h("a", { href: "#/policy/privacy", target: "_blank" }, "privacy policy"),
      " and the ",
      h("a", { href: "#/policy/terms", target: "_blank" }, "terms"),
      ` (version ${policy.version}).`,
    ),
    button,
    error,
  );
  panel.append(h("h1", {}, "Welcome! One step before you start"), form);
  root.append(panel);
}
