// Sign in: Google through Supabase in production; on the local stack, an email and a development token.

import { api } from "../api.js";
import { config } from "../config.js";
import { h } from "../dom.js";
import { signInLocally, signInWithGoogle } from "../session.js";

export async function render(root, ctx) {
  const error = h("p", { class: "error", role: "alert" });
  let form;
  if (config().auth_mode === "local") {
    const email = h("input", { id: "signin-email", type: "email", name: "email", autocomplete: "email", required: true });
    const button = h("button", { type: "submit" }, "Sign in");
    form = h(
      "form",
      {
        class: "stack",
        onsubmit: async (event) => {
          event.preventDefault();
          error.textContent = "";
          button.disabled = true;
          try {
            await signInLocally(email.value, (path, body) => api.post(path, body, { auth: false }));
            await ctx.refreshMe();
            ctx.reload();
          } catch (failure) {
            error.textContent = failure.message;
            button.disabled = false;
            email.focus();
          }
        },
      },
      h("label", { for: "signin-email" }, "Email"),
      email,
      h("p", { class: "help" }, "Local development: any address signs you in on this computer, no password."),
      button,
    );
  } else {
    form = h(
      "div",
      { class: "stack" },
      h("button", { type: "button", onclick: () => signInWithGoogle().catch((e) => (error.textContent = e.message)) }, "Continue with Google"),
    );
  }
  root.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Sign in to Atelier"),
      h("p", { class: "lede" }, "Create images from words, edit and upscale them, and keep them in your own private history."),
      form,
      error,
      h("p", { class: "muted" }, "Just looking? ", h("a", { href: "#/gallery" }, "Browse the gallery"), "."),
      h("p", { class: "muted" }, "Can't sign in, or no account? ", h("a", { href: "#/contact" }, "Contact us"), "."),
    ),
  );
}
