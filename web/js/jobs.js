// Following jobs: one poll loop per job (GET /v1/jobs/{id} about once a second) shared by every part of the page
// that shows it, kept running when the person leaves the Studio, and resumed after a reload (the ids of the jobs
// in flight live in sessionStorage). When a job ends, `onJobEnd` listeners hear it once (the shell's notice).

import { api } from "./api.js";

export const FINISHED = new Set(["succeeded", "failed", "canceled"]);
const INTERVAL_MS = 1000;
const ACTIVE_KEY = "atelier.jobs.active";
const followed = new Map(); // job id -> { listeners: Set, stop, last }
const ended = new Set();

function activeIds() {
  try {
    return JSON.parse(sessionStorage.getItem(ACTIVE_KEY) || "[]");
  } catch {
    return [];
  }
}

function saveActive() {
  sessionStorage.setItem(ACTIVE_KEY, JSON.stringify([...followed.keys()]));
}

function poll(jobId, onUpdate) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      const job = await api.get(`/v1/jobs/${jobId}`);
      if (stopped) return;
      onUpdate(job, null);
      if (FINISHED.has(job.status)) return;
    } catch (error) {
      if (stopped) return;
      onUpdate(null, error);
      if (error.status && error.status < 500 && error.status !== 429) return;
    }
    timer = setTimeout(tick, INTERVAL_MS);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// The privacy policy's section that explains a withheld image: an automated decision, and how to contest it.
export const WITHHELD_POLICY_SECTION = "automated-decisions";

// "1 of 2 images was withheld", "2 of 3 images were withheld": of what the job rendered (`count` it asked for).
export function withheldSentence(job) {
  const { count } = job.withheld;
  const total = count + job.outputs.length;
  return `${count} of ${total} images ${count === 1 ? "was" : "were"} withheld`;
}

// Why, and what it cost: nothing of a withheld image is kept or charged.
export function withheldReason(job) {
  const them = job.withheld.count === 1 ? "it" : "them";
  return job.withheld.reason === "storage"
    ? ` because we could not save ${them}; you were not charged for ${them}.`
    : ` by our automated safety check; you were not charged for ${them}.`;
}

// Follow a job: `onUpdate(job, error)` now (with the last state known) and on every poll until it ends.
// Returns the function that stops this listener (the poll goes on while the job runs: others may listen later).
export function track(jobId, onUpdate = () => {}) {
  let entry = followed.get(jobId);
  if (!entry) {
    entry = { listeners: new Set(), last: null, stop: null };
    followed.set(jobId, entry);
    saveActive();
    entry.stop = poll(jobId, (job, error) => {
      if (job) entry.last = job;
      for (const fn of [...entry.listeners]) fn(job, error);
      if ((job && FINISHED.has(job.status)) || (error && error.status === 404)) {
        followed.delete(jobId);
        saveActive();
        if (job) for (const fn of ended) fn(job);
      }
    });
  } else if (entry.last) onUpdate(entry.last, null);
  entry.listeners.add(onUpdate);
  return () => entry.listeners.delete(onUpdate);
}

export function tracking(jobId) {
  return followed.has(jobId);
}

// A job that ends anywhere in the app (the shell shows a notice linking to it when the Studio is not open).
export function onJobEnd(fn) {
  ended.add(fn);
  return () => ended.delete(fn);
}

// After a reload: follow again the jobs this tab was following.
export function resumeTracked() {
  for (const id of activeIds()) track(id);
}

// Stop everything (signing out).
export function stopAll() {
  for (const entry of followed.values()) entry.stop();
  followed.clear();
  saveActive();
}

// What the job will cost, by the same rule the API prices it (config/models.py `price`).
export function estimateCost(model, task, count, width, height) {
  if (!model) return null;
  if (task === "upscale") {
    if (!width || !height) return null;
    return count * Math.max(1, Math.ceil((width * height) / 1_000_000)) * model.price.credits_per_megapixel;
  }
  return count * model.price.credits_per_image;
}

export function upscaleTargets(model, width, height) {
  if (!model || !model.upscale || !width) return [];
  const long = Math.max(width, height);
  const limit = Math.min(model.upscale.max_long_side, long * model.upscale.factor);
  return [1024, 2048, 4096].filter((t) => t > long && t <= limit).concat(limit > long && ![1024, 2048, 4096].includes(limit) ? [limit] : []).sort((a, b) => a - b);
}

export function scaled(width, height, target) {
  const long = Math.max(width, height);
  return [Math.round((width * target) / long), Math.round((height * target) / long)];
}

// What the page knew when it submitted a job (prompt, expected size, the request itself for Re-run), by job id, for
// the tab's life: the feed draws a job's card from it until the API's own description arrives.
const META_KEY = "atelier.jobs.meta";
const META_KEEP = 60;

function allMeta() {
  try {
    return JSON.parse(sessionStorage.getItem(META_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

export function remember(jobId, meta) {
  const all = allMeta();
  all[jobId] = meta;
  const ids = Object.keys(all);
  for (const old of ids.slice(0, Math.max(0, ids.length - META_KEEP))) delete all[old];
  sessionStorage.setItem(META_KEY, JSON.stringify(all));
}

export function remembered(jobId) {
  return allMeta()[jobId] || {};
}
