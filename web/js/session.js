// Who is signed in. Two modes from the runtime config:
//   local     an email → a development token from the local stack's /v1/dev/sign-in (loopback only)
//   supabase  Google through Supabase Auth with PKCE, or an email address and the 6-digit code Supabase Auth mails
//             (POST /auth/v1/otp from the page; the code is verified by the page's origin, which keeps the session);
//             the access token is refreshed before it expires
// Views never see tokens: api.js asks `accessToken()` for each request.
//
// No token is kept where script can read it later. The access token lives in this module's memory only; what
// keeps a reload signed in is an HttpOnly, SameSite=Strict cookie that the page's own origin sets and reads on
// /auth/* (functions/web_session.py): the Supabase refresh token, which page script never sees, or locally the
// development token. On load the page asks /auth/refresh for a fresh access token.

import { config } from "./config.js";
import { emitter } from "./events.js";

const VERIFIER = "atelier.pkce";
const REFRESH_MARGIN_S = 60;
let session = null; // { access_token, expires_at, email }, in memory only
let refreshTimer = null;
const events = emitter();

// Sessions from before this version kept tokens in localStorage: remove them.
try {
  localStorage.removeItem("atelier.session");
} catch {
  // storage may be unavailable (private modes); nothing to remove then
}

function save(next) {
  session = next && next.access_token ? next : null;
  schedule();
  events.emit("change", session);
}

export function onChange(fn) {
  events.on("change", fn);
}

export function current() {
  return session;
}

export function signedIn() {
  return session !== null;
}

export async function accessToken() {
  if (!session) return null;
  if (session.expires_at - REFRESH_MARGIN_S < Date.now() / 1000) await refresh();
  return session ? session.access_token : null;
}

// The page's own origin (not the API's): the cookie belongs to whoever serves the page.
async function authRequest(path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}), credentials: "same-origin" });
}

async function sessionFrom(response) {
  if (!response.ok) {
    const failure = await response.json().catch(() => null);
    const error = failure && failure.error;
    throw new Error(error && error.supabase ? authSentence(response.status, error.supabase) : "The sign-in service refused the request. Please sign in again.");
  }
  const data = await response.json();
  return { access_token: data.access_token, expires_at: Number(data.expires_at), email: data.email };
}

// At start: a session kept by the cookie (a reload, a new tab) becomes a fresh access token in memory.
export async function restore() {
  try {
    const response = await authRequest("/auth/refresh");
    if (response.status === 401) return null; // not signed in
    save(await sessionFrom(response));
  } catch {
    save(null);
  }
  return session;
}

export function signOut() {
  const token = session ? session.access_token : null;
  save(null);
  authRequest("/auth/sign-out", {}, token).catch(() => {});
}

// --- local development sign-in ---------------------------------------------------------------------------
export async function signInLocally(email, post) {
  const body = await post("/v1/dev/sign-in", { email });
  save(await sessionFrom(await authRequest("/auth/session", { access_token: body.access_token })));
}

// --- Supabase Auth (Google, PKCE) --------------------------------------------------------------------------
function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// A fresh PKCE verifier, kept for the redirect back (Google, or a magic link the project mails instead of a code).
async function pkceChallenge() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(48)));
  sessionStorage.setItem(VERIFIER, JSON.stringify({ verifier, created: Date.now() }));
  return b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

export async function signInWithGoogle() {
  const challenge = await pkceChallenge();
  const url = new URL(`${config().supabase_url}/auth/v1/authorize`);
  url.searchParams.set("provider", "google");
  url.searchParams.set("redirect_to", location.origin + location.pathname);
  url.searchParams.set("code_challenge", challenge);
  url.searchParams.set("code_challenge_method", "s256");
  location.assign(url.toString());
}

// --- Supabase Auth (email and a one-time code) ---------------------------------------------------------------
// Supabase Auth's error answers ({"code", "error_code", "msg"}) in words a person can act on.
function authSentence(status, data) {
  const code = (data && (data.error_code || data.error)) || "";
  const wait = /after (\d+) seconds?/.exec((data && data.msg) || "");
  if (code === "otp_expired") return "That code is wrong or has expired. Check the newest email from us, or send a new code.";
  if (code === "over_email_send_rate_limit")
    return wait ? `We just sent you a code. You can ask for another in ${wait[1]} seconds.` : "Too many codes were sent. Please wait a few minutes, then send a new code.";
  if (code === "over_request_rate_limit" || status === 429) return "Too many attempts. Please wait a few minutes before you try again.";
  if (code === "validation_failed" || code === "email_address_invalid") return "Please enter a whole email address, like ada@example.com.";
  if (code === "otp_disabled" || code === "signup_disabled") return "Signing in by email is not available right now. Please continue with Google.";
  return "The sign-in service refused the request. Please try again.";
}

// Step 1: mail a 6-digit code (the account is created on first use, as with Google). No token is involved yet, so
// the page asks Supabase Auth itself.
export async function sendEmailCode(email) {
  const challenge = await pkceChallenge();
  let response;
  try {
    response = await fetch(`${config().supabase_url}/auth/v1/otp`, {
      method: "POST",
      headers: { "Content-Type": "application/json", apikey: config().supabase_publishable_key },
      body: JSON.stringify({ email: email.trim(), create_user: true, code_challenge: challenge, code_challenge_method: "s256" }),
    });
  } catch {
    throw new Error("The sign-in service cannot be reached. Check your connection and try again.");
  }
  if (!response.ok) throw new Error(authSentence(response.status, await response.json().catch(() => null)));
}

// Step 2: the code → a session, verified by the page's origin (which keeps the refresh token in its cookie).
export async function verifyEmailCode(email, code) {
  let response;
  try {
    response = await authRequest("/auth/session", { type: "email", email: email.trim(), token: code.replace(/\D/g, "") });
  } catch {
    throw new Error("The sign-in service cannot be reached. Check your connection and try again.");
  }
  save(await sessionFrom(response));
  sessionStorage.removeItem(VERIFIER);
}

// After Google sends the person back with ?code=…, trade it (once, within 5 minutes) for a session: the page's
// origin makes the exchange, keeps the refresh token in its cookie and hands back only the access token.
export async function completeRedirect() {
  const url = new URL(location.href);
  const code = url.searchParams.get("code");
  const failure = url.searchParams.get("error_description");
  if (!code && !failure) return null;
  url.searchParams.delete("code");
  url.searchParams.delete("error");
  url.searchParams.delete("error_code");
  url.searchParams.delete("error_description");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
  if (failure) throw new Error(failure);
  const saved = JSON.parse(sessionStorage.getItem(VERIFIER) || "null");
  sessionStorage.removeItem(VERIFIER);
  if (!saved || Date.now() - saved.created > 300000) throw new Error("That sign-in took too long. Please try again.");
  save(await sessionFrom(await authRequest("/auth/session", { auth_code: code, code_verifier: saved.verifier })));
  return session;
}

let refreshing = null;
async function refresh() {
  if (!refreshing) {
    refreshing = authRequest("/auth/refresh")
      .then(sessionFrom)
      .then(save)
      .catch(() => save(null))
      .finally(() => {
        refreshing = null;
      });
  }
  await refreshing;
}

function schedule() {
  clearTimeout(refreshTimer);
  if (!session || config().auth_mode === "local") return; // a development token is not renewed, only kept
  const wait = Math.max(5, session.expires_at - REFRESH_MARGIN_S - Date.now() / 1000) * 1000;
  refreshTimer = setTimeout(() => refresh(), Math.min(wait, 2 ** 31 - 1));
}
