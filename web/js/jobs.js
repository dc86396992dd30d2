// Following a job: poll GET /v1/jobs/{id} about once a second until it finishes (or the view goes away).

import { api } from "./api.js";

export const FINISHED = new Set(["succeeded", "failed", "canceled"]);
const INTERVAL_MS = 1000;

export function follow(jobId, onUpdate) {
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

// The privacy policy's section that explains a withheld image (an automated safety check decided it). The policy
// has no "Automated decisions" heading yet; when it does, this becomes "automated-decisions".
export const WITHHELD_POLICY_SECTION = "safety-checks";

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
