// Sign in: Google through Supabase, or an email address and a 6-digit code mailed by Supabase Auth (the account
// is created on first use either way); on the local stack, an email and a development token.

import { api } from "../api.js";
import { config } from "../config.js";
import { h, onSubmit, replace } from "../dom.js";
import { sendEmailCode, signInLocally, signInWithGoogle, verifyEmailCode } from "../session.js";

function localForm(ctx) {
  const email = h("input", { id: "signin-email", type: "email", name: "email", autocomplete: "email", required: true });
  return onSubmit(
    h(
      "form",
      { class: "stack" },
      h("label", { for: "signin-email" }, "Email"),
      email,
      h("p", { class: "help" }, "Local development: any address signs you in on this computer, no password."),
      h("button", { type: "submit" }, "Sign in"),
      h("p", { class: "error", role: "alert" }),
    ),
    async () => {
      try {
        await signInLocally(email.value, (path, body) => api.post(path, body, { auth: false }));
      } catch (failure) {
        email.focus();
        throw failure;
      }
      await ctx.refreshMe();
      ctx.reload();
    },
  );
}

function emailCodeForm(ctx) {
  const slot = h("div", { class: "email-code" });
  const email = h("input", { id: "signin-email", type: "email", name: "email", autocomplete: "email", required: true, maxlength: 254 });
  const ask = onSubmit(
    h(
      "form",
      { class: "stack" },
      h("label", { for: "signin-email" }, "Email"),
      email,
      h("p", { class: "help" }, "We email you a 6-digit code. New here? The code creates your account."),
      h("button", { type: "submit" }, "Send code"),
      h("p", { class: "error", role: "alert" }),
    ),
    async () => {
      await sendEmailCode(email.value);
      replace(slot, codeStep(email.value.trim()));
      slot.querySelector("input").focus();
    },
  );

  function codeStep(address) {
    const code = h("input", {
      id: "signin-code",
      name: "code",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      maxlength: 9,
      required: true,
      "aria-describedby": "signin-code-help",
    });
    const again = h("button", { type: "button", class: "linkish" }, "Send a new code");
    const status = h("p", { class: "help", role: "status" });
    again.addEventListener("click", async () => {
      again.disabled = true;
      try {
        await sendEmailCode(address);
        status.textContent = "A new code is on its way. Only the newest code works.";
      } catch (failure) {
        status.textContent = failure.message;
      }
      again.disabled = false;
    });
    const form = onSubmit(
      h(
        "form",
        { class: "stack" },
        h("label", { for: "signin-code" }, "Code"),
        code,
        h("p", { class: "help", id: "signin-code-help" }, `We sent a 6-digit code to ${address}. It works once, for a few minutes.`),
        h("button", { type: "submit" }, "Verify"),
        h("p", { class: "error", role: "alert" }),
      ),
      async () => {
        try {
          await verifyEmailCode(address, code.value);
        } catch (failure) {
          code.select();
          throw failure;
        }
        await ctx.refreshMe();
        ctx.reload();
      },
    );
    const other = h("button", { type: "button", class: "linkish" }, "Use another address");
    other.addEventListener("click", () => {
      replace(slot, ask);
      email.focus();
    });
    return h("div", {}, form, h("p", { class: "help" }, again, " · ", other), status);
  }

  replace(slot, ask);
  return slot;
}

export async function render(root, ctx) {
  let body;
  if (config().auth_mode === "local") body = localForm(ctx);
  else {
    const error = h("p", { class: "error", role: "alert" });
    body = h(
      "div",
      { class: "stack" },
      h("button", { type: "button", onclick: () => signInWithGoogle().catch((e) => (error.textContent = e.message)) }, "Continue with Google"),
      error,
      h("p", { class: "or", "aria-hidden": "true" }, "or"),
      emailCodeForm(ctx),
    );
  }
  root.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Sign in to Atelier"),
      h("p", { class: "lede" }, "Create images from words, edit and upscale them, and keep them in your own private history."),
      body,
      h("p", { class: "muted" }, "Just looking? ", h("a", { href: "#/gallery" }, "Browse the gallery"), " or see ", h("a", { href: "#/pricing" }, "Pricing"), "."),
      h("p", { class: "muted" }, "Can't sign in, or no account? ", h("a", { href: "#/contact" }, "Contact us"), "."),
    ),
  );
}
