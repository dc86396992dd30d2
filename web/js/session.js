// Who is signed in. Two modes from the runtime config:
//   local     an email → a development token from the local stack's /v1/dev/sign-in (loopback only)
//   supabase  Google through Supabase Auth with PKCE, or an email address and the 6-digit code Supabase Auth mails
//             (POST /auth/v1/otp, then /auth/v1/verify); the access token is refreshed before it expires
// Views never see tokens: api.js asks `accessToken()` for each request.

import { config } from "./config.js";
import { emitter } from "./events.js";

const KEY = "atelier.session";
const VERIFIER = "atelier.pkce";
const REFRESH_MARGIN_S = 60;
let session = load();
let refreshTimer = null;
const events = emitter();

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    return saved && saved.expires_at > Date.now() / 1000 ? saved : null;
  } catch {
    return null;
  }
}

function save(next) {
  session = next;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
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
  if (session.refresh_token && session.expires_at - REFRESH_MARGIN_S < Date.now() / 1000) await refresh();
  return session ? session.access_token : null;
}

export function signOut() {
  const token = session && session.refresh_token ? session.access_token : null;
  save(null);
  if (token && config().supabase_url) {
    fetch(`${config().supabase_url}/auth/v1/logout`, {
      method: "POST",
      headers: { apikey: config().supabase_publishable_key, Authorization: `Bearer ${token}` },
    }).catch(() => {});
  }
}

// --- local development sign-in ---------------------------------------------------------------------------
export async function signInLocally(email, post) {
  const body = await post("/v1/dev/sign-in", { email });
  save({ access_token: body.access_token, expires_at: Date.parse(body.expires_at) / 1000, email: email.trim() });
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

async function authPost(path, body) {
  let response;
  try {
    response = await fetch(`${config().supabase_url}/auth/v1/${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", apikey: config().supabase_publishable_key },
      body: JSON.stringify(body),
    });
  } catch {
    throw new Error("The sign-in service cannot be reached. Check your connection and try again.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error(authSentence(response.status, data));
  return data;
}

// Step 1: mail a 6-digit code (the account is created on first use, as with Google).
export async function sendEmailCode(email) {
  const challenge = await pkceChallenge();
  await authPost("otp", { email: email.trim(), create_user: true, code_challenge: challenge, code_challenge_method: "s256" });
}

// Step 2: the code → a session.
export async function verifyEmailCode(email, code) {
  const data = await authPost("verify", { type: "email", email: email.trim(), token: code.replace(/\D/g, "") });
  sessionStorage.removeItem(VERIFIER);
  save(sessionOf(data));
}

function sessionOf(data) {
  return {
    access_token: data.access_token,
    refresh_token: data.refresh_token,
    expires_at: data.expires_at || Math.floor(Date.now() / 1000) + (data.expires_in || 3600),
    email: data.user ? data.user.email : session && session.email,
  };
}

async function tokenRequest(grant, body) {
  const response = await fetch(`${config().supabase_url}/auth/v1/token?grant_type=${grant}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", apikey: config().supabase_publishable_key },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error("The sign-in service refused the request. Please sign in again.");
  return sessionOf(await response.json());
}

// After Google sends the person back with ?code=…, trade it (once, within 5 minutes) for a session.
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
  save(await tokenRequest("pkce", { auth_code: code, code_verifier: saved.verifier }));
  return session;
}

let refreshing = null;
async function refresh() {
  if (!refreshing) {
    refreshing = tokenRequest("refresh_token", { refresh_token: session.refresh_token })
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
  if (!session || !session.refresh_token) return;
  const wait = Math.max(5, session.expires_at - REFRESH_MARGIN_S - Date.now() / 1000) * 1000;
  refreshTimer = setTimeout(() => refresh(), Math.min(wait, 2 ** 31 - 1));
}

schedule();
