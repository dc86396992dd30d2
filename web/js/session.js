// Who is signed in. Two modes from the runtime config:
//   local     an email → a development token from the local stack's /v1/dev/sign-in (loopback only)
//   supabase  Google through Supabase Auth with PKCE; the access token is refreshed before it expires
// Views never see tokens: api.js asks `accessToken()` for each request.

import { config } from "./config.js";

const KEY = "atelier.session";
const VERIFIER = "atelier.pkce";
const REFRESH_MARGIN_S = 60;
let session = load();
let refreshTimer = null;
const listeners = new Set();

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

async function tokenRequest(grant, body) {
  const response = await fetch(`${config().supabase_url}/auth/v1/token?grant_type=${grant}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", apikey: config().supabase_publishable_key },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error("The sign-in service refused the request. Please sign in again.");
  const data = await response.json();
  return {
    access_token: data.access_token,
    refresh_token: data.refresh_token,
    expires_at: data.expires_at || Math.floor(Date.now() / 1000) + (data.expires_in || 3600),
    email: data.user ? data.user.email : session && session.email,
  };
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
