// What the server knows about making images, read once per page load from the API: the tasks and their fields,
// the models (with prices and aspect ratios), the image-count range, sizes, variation strengths, the prompt limit
// and how many jobs may run at once. Nothing of it is typed into web/.

import { api } from "./api.js";

let loading = null;

export function catalog() {
  if (!loading) {
    loading = api.publicGet("/v1/models").then(build);
    loading.catch(() => (loading = null));
  }
  return loading;
}

// INTERIM until GET /v1/studio is merged.
const INTERIM_TASKS = [
  { id: "text_to_image", label: "Create", help: "Describe an image and Atelier paints it.", fields: ["prompt", "aspect_ratio", "count", "seed"] },
  { id: "edit", label: "Edit", help: "Change an image with an instruction.", fields: ["image", "prompt", "count", "seed"] },
  { id: "inpaint", label: "Inpaint", help: "Paint over part of an image, then describe what goes there.", fields: ["image", "mask", "prompt", "count", "seed"] },
  { id: "upscale", label: "Upscale", help: "Enlarge an image.", fields: ["image", "target_long_side"] },
  { id: "image_to_prompt", label: "Describe", help: "Turn an image into a prompt you can reuse.", fields: ["image", "target_model"] },
];

function build(models) {
  const tasks = INTERIM_TASKS.map((t) => ({ ...t, fields: new Set(t.fields) }));
  const doc = {
    tasks,
    models: models.items,
    promptLimit: 2000,
    countRange: { min: 1, max: 4 },
    sizes: [],
    strengths: [],
    maxActiveJobs: null,
    task: (id) => tasks.find((t) => t.id === id) || null,
    model: (id) => models.items.find((m) => m.id === id) || null,
    modelsFor: (task) => models.items.filter((m) => m.tasks.includes(task)),
    cost: (choice) => price(doc, choice),
  };
  return doc;
}

function price(doc, { task, model, count = 1, width = 0, height = 0 }) {
  const m = doc.model(model);
  if (!m) return null;
  if (task === "upscale") {
    if (!width || !height) return null;
    return count * Math.max(1, Math.ceil((width * height) / 1_000_000)) * m.price.credits_per_megapixel;
  }
  return count * m.price.credits_per_image;
}
