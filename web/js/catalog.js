// What the server knows about making images, read once per page load from GET /v1/studio: the tasks with their
// labels, fields and models, the models (prices, aspect ratios, licences), the image-count range, sizes, variation
// strengths, the prompt limit and how many jobs may be in flight at once. Nothing of it is typed into web/.

import { api } from "./api.js";

let loading = null;

export function catalog() {
  if (!loading) {
    loading = api.publicGet("/v1/studio").then(build);
    loading.catch(() => (loading = null));
  }
  return loading;
}

function build(doc) {
  const models = doc.models;
  const model = (id) => models.find((m) => m.id === id) || null;
  // A task no model here does is not offered (its list of models is empty).
  const tasks = doc.tasks.filter((t) => t.models.length).map((t) => ({ ...t, fields: new Set(t.fields), required: new Set(t.required) }));
  const task = (id) => tasks.find((t) => t.id === id) || null;
  return {
    tasks,
    models,
    task,
    model,
    modelsFor: (id) => (task(id) ? task(id).models.map(model).filter(Boolean) : []),
    promptLimit: doc.prompt.max_chars,
    countRange: doc.image_count,
    sizes: doc.sizes,
    strengths: doc.vary_strengths,
    defaultStrength: doc.default_strength,
    defaultAspectRatio: doc.default_aspect_ratio,
    maxActiveJobs: doc.max_active_jobs,
    fourK: doc.costs.four_k,
    promptTargets: doc.prompt_targets || [],
    cost: (choice) => price(doc.costs, task, choice),
  };
}

const MP = 1_000_000;

function scaledTo(width, height, longSide) {
  const long = Math.max(width, height);
  return [Math.round((width * longSide) / long), Math.round((height * longSide) / long)];
}

// What a request will hold, by the rules GET /v1/studio states with its prices (`costs`); null when unknown yet.
function price(costs, task, { task: id, model, count = 1, aspectRatio, size = "standard", width = 0, height = 0 }) {
  const spec = task(id);
  if (!spec) return null;
  const modelId = model || spec.default_model;
  if (id === "upscale") {
    const perMp = costs.upscale_credits_per_megapixel[modelId];
    if (perMp === undefined || !width || !height) return null;
    return count * Math.max(1, Math.ceil((width * height) / MP)) * perMp;
  }
  const prices = (costs.models[modelId] || {})[id];
  if (!prices) return null;
  const byRatio = aspectRatio ? prices.by_aspect_ratio[aspectRatio] : null;
  if (byRatio && byRatio[size] !== undefined) return count * byRatio[size];
  // The output follows the input image: standard per image, and for 4k the upscale of that shape to the 4k side.
  let each = prices.credits_per_image;
  if (size === "4k") {
    if (!width || !height) return null;
    const [w, h] = scaledTo(width, height, costs.four_k.long_side);
    each += costs.four_k.credits_per_megapixel * Math.max(1, Math.ceil((w * h) / MP));
  }
  return count * each;
}
