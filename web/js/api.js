// The one module that talks to the Atelier API: base URL from the runtime config, the bearer token, the
// device id (ties cookie choices to the account), an Idempotency-Key on job submission, Retry-After on 429.
// Every failure becomes an ApiError whose message is a sentence for people (errors.js).

import { config } from "./config.js";
import { ApiError } from "./errors.js";
import { emitter } from "./events.js";
import { accessToken, signOut } from "./session.js";

const DEVICE_KEY = "atelier.device";
const MAX_AUTO_WAIT_S = 10;
const events = emitter(); // "policy" (a 428: a changed policy awaits acceptance), "auth" (a 401: signed out)

export const on = events.on;

export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID().replace(/-/g, "")}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

export function url(path) {
  return path.startsWith("http") ? path : `${config().api_base_url}${path}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function send(method, path, { body, form, auth = true, idempotencyKey, waits = 2 } = {}) {
  const headers = { "X-Device-ID": deviceId() };
  if (auth) {
    const token = await accessToken();
    if (token) headers.Authorization = `Bearer ${token}`;
  }
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path), { method, headers, body: payload });
  } catch {
    throw new ApiError(0, "network", "network");
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (response.ok) return data;

  const error = data && data.error ? data.error : {};
  const retryAfter = Number(response.headers.get("retry-after")) || null;
  // A short Retry-After is waited out quietly (the request is idempotent, or carries its key).
  if (response.status === 429 && retryAfter && retryAfter <= MAX_AUTO_WAIT_S && waits > 0) {
    await sleep(retryAfter * 1000);
    return send(method, path, { body, form, auth, idempotencyKey, waits: waits - 1 });
  }
  const failure = new ApiError(response.status, error.code, error.message, retryAfter);
  if (response.status === 428) events.emit("policy", failure);
  if (response.status === 401 && auth) {
    signOut();
    events.emit("auth", failure);
  }
  throw failure;
}

export const api = {
  get: (path, options) => send("GET", path, options),
  post: (path, body, options = {}) => send("POST", path, { ...options, body }),
  put: (path, body) => send("PUT", path, { body }),
  patch: (path, body) => send("PATCH", path, { body }),
  delete: (path) => send("DELETE", path),
  upload: (file, purpose = "image") => {
    const form = new FormData();
    form.append("file", file);
    form.append("purpose", purpose);
    return send("POST", "/v1/uploads", { form });
  },
  // A new key per submission (the same key on an automatic retry), so a double click makes one job.
  submitJob: (body, key = crypto.randomUUID()) => send("POST", "/v1/jobs", { body, idempotencyKey: key }),
  // Multipart (a form with files): the browser sets the boundary.
  postForm: (path, form) => send("POST", path, { form }),
  publicGet: (path) => send("GET", path, { auth: false }),
  publicPost: (path, body) => send("POST", path, { body, auth: false }),
  text: async (path) => {
    const response = await fetch(url(path));
    if (!response.ok) throw new ApiError(response.status, null, null);
    return response.text();
  },
};
