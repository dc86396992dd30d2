// Who is signed in. Two modes from the runtime config:
//   local     an email → a development token from the local stack's /v1/dev/sign-in (loopback only)
//   supabase  Google through Supabase Auth with PKCE; the access token is refreshed before it expires
// Views never see tokens: api.js asks `accessToken()` for each request.
//
// No token is kept where script can read it later. The access token lives in this module's memory only; what
// keeps a reload signed in is an HttpOnly, SameSite=Strict cookie that the page's own origin sets and reads on
// /auth/* (functions/web_session.py): the Supabase refresh token, which page script never sees, or locally the
// development token. On load the page asks /auth/refresh for a fresh access token.

import { config } from "./config.js";

const VERIFIER = "atelier.pkce";
const REFRESH_MARGIN_S = 60;
let session = null; // { access_token, expires_at, email }, in memory only
let refreshTimer = null;
const listeners = new Set();

// Sessions from before this version kept tokens in localStorage: remove them.
try {
  localStorage.removeItem("atelier.session");
} catch {
  // storage may be unavailable (private modes); nothing to remove then
}

function save(next) {
  session = next && next.access_token ? next : null;
  schedule();
  for (const fn of listeners) fn(session);
}

export function onChange(fn) {
  listeners.add(fn);
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
  if (!response.ok) throw new Error("The sign-in service refused the request. Please sign in again.");
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

export async function signInWithGoogle() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(48)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(VERIFIER, JSON.stringify({ verifier, created: Date.now() }));
  const url = new URL(`${config().supabase_url}/auth/v1/authorize`);
  url.searchParams.set("provider", "google");
  url.searchParams.set("redirect_to", location.origin + location.pathname);
  url.searchParams.set("code_challenge", challenge);
  url.searchParams.set("code_challenge_method", "s256");
  location.assign(url.toString());
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
