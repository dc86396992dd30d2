// The studio: five tasks (create, edit, inpaint, upscale, describe), the model picker with licence and
// price, the cost before submitting, live progress with Cancel, and results to download, reuse or publish.

import { api } from "../api.js";
import { sentenceFor } from "../errors.js";
import { h, replace, plural } from "../dom.js";
import { estimateCost, follow, FINISHED, scaled, upscaleTargets } from "../jobs.js";
import { MaskPainter } from "../mask.js";

const TASKS = [
  { id: "text_to_image", label: "Create", help: "Describe an image and Atelier paints it." },
  { id: "edit", label: "Edit", help: "Change an image with an instruction, e.g. “make it snow”." },
  { id: "inpaint", label: "Inpaint", help: "Paint over part of an image, then describe what goes there." },
  { id: "upscale", label: "Upscale", help: "Enlarge an image up to 4K (4096 pixels on the long side)." },
  { id: "image_to_prompt", label: "Describe", help: "Turn an image into a prompt you can reuse." },
];
const HANDOFF = "atelier.studio";

// Another page (history, gallery) hands an image or a prompt to the studio through sessionStorage.
export function handOff(value) {
  sessionStorage.setItem(HANDOFF, JSON.stringify(value));
}

function takeHandOff() {
  const value = JSON.parse(sessionStorage.getItem(HANDOFF) || "null");
  sessionStorage.removeItem(HANDOFF);
  return value;
}

export async function render(root, ctx) {
  const [models, credits] = await Promise.all([api.publicGet("/v1/models"), api.get("/v1/credits").catch(() => null)]);
  const given = takeHandOff() || {};
  // "Try this prompt" (gallery, start page) links to `#/studio?prompt=…`: Create, with the prompt filled in.
  if (ctx.query && ctx.query.get("prompt")) Object.assign(given, { task: "text_to_image", prompt: ctx.query.get("prompt").slice(0, 2000) });
  const state = {
    task: given.task || "text_to_image",
    input: given.input || null, // {id, url, width, height}
    stop: null,
    job: null,
    available: credits ? credits.available : null,
  };

  // --- controls ------------------------------------------------------------------------------------------
  const taskRadios = TASKS.map((t) =>
    h("input", { type: "radio", name: "task", id: `task-${t.id}`, value: t.id, checked: t.id === state.task, onchange: () => setTask(t.id) }),
  );
  const taskHelp = h("p", { class: "help", id: "task-help" });
  const modelSelect = h("select", { id: "studio-model", onchange: () => refresh() });
  const modelInfo = h("p", { class: "help", id: "model-info" });
  const prompt = h("textarea", { id: "studio-prompt", rows: 4, maxlength: 2000, placeholder: "A lighthouse on a cliff at dawn, watercolor", oninput: () => refresh() });
  if (given.prompt) prompt.value = given.prompt;
  const aspect = h("select", { id: "studio-aspect", onchange: () => refresh() });
  const count = h("select", { id: "studio-count", onchange: () => refresh() }, [1, 2, 3, 4].map((n) => h("option", { value: n }, String(n))));
  const seed = h("input", { id: "studio-seed", type: "number", min: 0, max: 4294967295, step: 1, inputmode: "numeric", placeholder: "random" });
  if (given.seed !== undefined && given.seed !== null) seed.value = String(given.seed);
  const target = h("select", { id: "studio-target", onchange: () => refresh() });
  const targetModel = h("select", { id: "studio-target-model" });
  const file = h("input", { id: "studio-image", type: "file", accept: "image/png,image/jpeg,image/webp", onchange: () => uploadChosen() });
  const inputPreview = h("div", { class: "input-preview" });
  const cost = h("p", { class: "cost", id: "studio-cost", "aria-live": "polite" });
  const generate = h("button", { type: "submit", class: "primary" }, "Generate");
  const formError = h("div", { class: "error", role: "alert" });

  const field = (id, label, control, extra) => h("div", { class: "field", "data-field": id }, h("label", { for: control.id }, label), control, extra);
  const fields = {
    prompt: field("prompt", "Prompt", prompt),
    image: field("image", "Image", file, inputPreview),
    aspect: field("aspect", "Aspect ratio", aspect),
    count: field("count", "Images", count),
    seed: field("seed", "Seed", seed, h("p", { class: "help" }, "Leave empty for a random one; reuse a seed to get the same image again.")),
    target: field("target", "Output size", target),
    targetModel: field("targetModel", "Write the prompt for", targetModel),
  };

  const painter = new MaskPainter(() => refresh());
  const maskTools = h(
    "div",
    { class: "mask-tools", "data-field": "mask" },
    h("p", { class: "help" }, "Paint over the area to change, with a mouse, pen or finger."),
    h("label", { for: "mask-brush" }, "Brush size"),
    painter.brushInput,
    h("button", { type: "button", class: "quiet", onclick: () => painter.clear() }, "Clear mask"),
    h("button", { type: "button", class: "quiet", onclick: () => painter.fill() }, "Mask everything"),
  );

  const form = h(
    "form",
    { class: "controls", "aria-label": "Create", onsubmit: (e) => { e.preventDefault(); submit(); } },
    h(
      "fieldset",
      { class: "tasks" },
      h("legend", {}, "Task"),
      TASKS.map((t, i) => h("span", { class: "task" }, taskRadios[i], h("label", { for: `task-${t.id}` }, t.label))),
    ),
    taskHelp,
    field("model", "Model", modelSelect, modelInfo),
    fields.image,
    maskTools,
    fields.prompt,
    h("div", { class: "row" }, fields.aspect, fields.count),
    fields.target,
    fields.targetModel,
    fields.seed,
    cost,
    generate,
    formError,
  );

  // --- stage: the input (with the mask painter), the running job, the results -----------------------------
  const stageInput = h("div", { class: "stage-input" });
  const progress = h("div", { class: "progress", hidden: true });
  const results = h("section", { class: "results", "aria-label": "Results" });
  const stage = h("div", { class: "stage" }, stageInput, progress, results);

  root.append(
    h(
      "div",
      { class: "studio-head" },
      h("h1", {}, "Studio"),
      h("p", { class: "balance", id: "studio-balance" }, state.available === null ? "" : `${plural(state.available, "credit", "credits")} available`),
    ),
    h("div", { class: "studio" }, form, stage),
  );

  // --- behaviour ---------------------------------------------------------------------------------------
  function taskModels() {
    return models.items.filter((m) => m.tasks.includes(state.task));
  }

  function currentModel() {
    return models.items.find((m) => m.id === modelSelect.value) || taskModels()[0];
  }

  function setTask(task) {
    state.task = task;
    const list = taskModels();
    replace(
      modelSelect,
      list.map((m) => h("option", { value: m.id }, `${m.name} · ${priceText(m, task)}`)),
    );
    replace(
      targetModel,
      h("option", { value: "" }, "Any model"),
      models.items.filter((m) => m.tasks.includes("text_to_image")).map((m) => h("option", { value: m.id }, m.name)),
    );
    refresh();
  }

  function priceText(m, task) {
    return task === "upscale" ? `${m.price.credits_per_megapixel} credit per megapixel` : `${plural(m.price.credits_per_image, "credit", "credits")} per image`;
  }

  function show(name, visible) {
    const el = name === "mask" ? maskTools : fields[name];
    el.hidden = !visible;
  }

  function refresh() {
    const task = state.task;
    const m = currentModel();
    const spec = TASKS.find((t) => t.id === task);
    taskHelp.textContent = spec.help;
    if (m) {
      modelInfo.replaceChildren(
        `${m.licence.commercial ? "Commercial use allowed" : "Non-commercial licence"} (`,
        h("a", { href: m.licence.url, target: "_blank", rel: "noopener" }, m.licence.id),
        `). ${priceText(m, task)}.`,
      );
    }
    show("prompt", ["text_to_image", "edit", "inpaint"].includes(task));
    show("image", task !== "text_to_image");
    show("mask", task === "inpaint" && !!state.input);
    show("aspect", task === "text_to_image");
    show("count", ["text_to_image", "edit", "inpaint"].includes(task));
    show("seed", ["text_to_image", "edit", "inpaint"].includes(task));
    show("target", task === "upscale");
    show("targetModel", task === "image_to_prompt");
    if (m && task === "text_to_image") {
      const chosen = aspect.value;
      replace(aspect, m.aspect_ratios.map((a) => h("option", { value: a.aspect_ratio, selected: a.aspect_ratio === chosen }, `${a.aspect_ratio} (${a.width}×${a.height})`)));
    }
    if (task === "upscale") {
      const chosen = target.value;
      const options = state.input ? upscaleTargets(m, state.input.width, state.input.height) : [];
      replace(
        target,
        options.length
          ? options.map((t) => h("option", { value: t, selected: String(t) === chosen || (!chosen && t === options.at(-1)) }, `${t} px long side${t === 4096 ? " (4K)" : ""}`))
          : h("option", { value: "" }, state.input ? "This image is already as large as it can be" : "Choose an image first"),
      );
    }
    renderInput();
    updateCost();
  }

  function jobSize() {
    if (state.task !== "upscale" || !state.input || !target.value) return [0, 0];
    return scaled(state.input.width, state.input.height, Number(target.value));
  }

  function updateCost() {
    const n = fields.count.hidden ? 1 : Number(count.value);
    const [w, hgt] = jobSize();
    const credits = estimateCost(currentModel(), state.task, n, w, hgt);
    if (credits === null) {
      cost.textContent = "";
      return;
    }
    const short = state.available !== null && credits > state.available;
    cost.replaceChildren(
      `This costs ${plural(credits, "credit", "credits")}.`,
      state.available !== null ? ` You have ${state.available}.` : "",
      short ? h("span", {}, " ", h("a", { href: "#/credits" }, "Buy credits")) : "",
    );
  }

  function renderInput() {
    if (state.task === "text_to_image" || !state.input) {
      replace(stageInput);
      replace(inputPreview, state.task === "text_to_image" ? "" : h("p", { class: "help" }, "JPEG, PNG or WebP. Or pick one from your History."));
      return;
    }
    replace(inputPreview, h("p", { class: "help" }, `Using an image of ${state.input.width}×${state.input.height} pixels.`));
    if (state.task === "inpaint") {
      replace(stageInput, painter.element);
      painter.load(state.input.url, state.input.width, state.input.height);
    } else {
      replace(stageInput, h("img", { class: "input-image", src: state.input.url, alt: "The input image" }));
    }
  }

  async function uploadChosen() {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    formError.textContent = "";
    try {
      const uploaded = await api.upload(chosen);
      state.input = { id: uploaded.id, url: URL.createObjectURL(chosen), width: uploaded.width, height: uploaded.height };
      refresh();
    } catch (error) {
      showError(error);
      file.value = "";
    }
  }

  function showError(error) {
    replace(
      formError,
      h("p", {}, error.message),
      error.status === 402 ? h("p", {}, h("a", { href: "#/credits", class: "button" }, "Buy credits")) : null,
      error.status === 429 && error.retryAfter ? h("p", {}, `You can try again in ${plural(error.retryAfter, "second", "seconds")}.`) : null,
    );
    if (error.status === 429 && error.retryAfter) {
      generate.disabled = true;
      setTimeout(() => (generate.disabled = !!state.stop), error.retryAfter * 1000);
    }
  }

  async function submit() {
    formError.textContent = "";
    const task = state.task;
    const body = { task, model: currentModel().id };
    if (!fields.prompt.hidden) body.prompt = prompt.value;
    if (!fields.image.hidden) {
      if (!state.input) return showError({ message: "Please choose an image first." });
      body.image = state.input.id;
    }
    if (task === "text_to_image") body.aspect_ratio = aspect.value;
    if (!fields.count.hidden) body.count = Number(count.value);
    if (!fields.seed.hidden && seed.value !== "") body.seed = Number(seed.value);
    if (task === "upscale" && target.value) body.target_long_side = Number(target.value);
    if (task === "image_to_prompt" && targetModel.value) body.target_model = targetModel.value;
    generate.disabled = true;
    try {
      if (task === "inpaint") {
        if (painter.empty) throw { message: "Please paint the area to change first." };
        const mask = await api.upload(await painter.maskFile(), "mask");
        body.mask = mask.id;
      }
      const accepted = await api.submitJob(body);
      startFollowing(accepted.id, body.prompt || "");
      refreshBalance(); // the job's credits are held from now on
    } catch (error) {
      generate.disabled = false;
      showError(error);
    }
  }

  function startFollowing(jobId, promptText) {
    const bar = h("div", { role: "progressbar", "aria-label": "Progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, h("span", { class: "fill" }));
    const label = h("p", { class: "progress-label", "aria-live": "polite" }, "Waiting for a free worker…");
    const cancel = h("button", { type: "button", onclick: () => cancelJob(jobId, cancel) }, "Cancel");
    replace(progress, bar, label, cancel);
    progress.hidden = false;
    state.stop = follow(jobId, (job, error) => {
      if (error) {
        label.textContent = error.message;
        return;
      }
      const percent = Math.round(job.progress * 100);
      bar.setAttribute("aria-valuenow", String(percent));
      bar.firstChild.style.width = `${percent}%`;
      label.textContent = job.status === "queued" ? "Waiting for a free worker…" : `Working… ${percent}%`;
      if (FINISHED.has(job.status)) finished(job, promptText);
    });
  }

  async function cancelJob(jobId, button) {
    button.disabled = true;
    try {
      const job = await api.post(`/v1/jobs/${jobId}/cancel`);
      if (FINISHED.has(job.status)) finished(job, "");
      else progress.querySelector(".progress-label").textContent = "Stopping…";
    } catch (error) {
      if (error.code !== "job_finished") showError(error);
    }
  }

  async function finished(job, promptText) {
    if (state.stop) state.stop();
    state.stop = null;
    progress.hidden = true;
    replace(progress);
    generate.disabled = false;
    refreshBalance();
    if (job.status === "canceled") {
      ctx.notify("Canceled. Your credits were returned.");
      results.prepend(h("p", { class: "muted" }, "The job was canceled; nothing was charged."));
      return;
    }
    if (job.status === "failed") {
      showError({ message: job.error ? sentence(job.error) : "The job failed. Your credits were returned." });
      return;
    }
    ctx.notify(job.task === "image_to_prompt" ? "Your prompt is ready." : `Done: ${plural(job.outputs.length, "image", "images")}.`);
    const card = resultCard(job, promptText);
    results.prepend(card);
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function refreshBalance() {
    api.get("/v1/credits").then((c) => {
      state.available = c.available;
      document.getElementById("studio-balance").textContent = `${plural(c.available, "credit", "credits")} available`;
      updateCost();
    }).catch(() => {});
  }

  function sentence(error) {
    const words = sentenceFor(error.code, 422, error.message || "The job failed.");
    return words.includes("credits were returned") ? words : `${words} Your credits were returned.`;
  }

  function resultCard(job, promptText) {
    const card = h("article", { class: "result", "aria-label": `Result of ${TASKS.find((t) => t.id === job.task).label}` });
    if (job.task === "image_to_prompt") {
      card.append(
        h("h2", {}, "Prompt"),
        h("blockquote", { class: "prompt-text" }, job.prompt_text || ""),
        h("button", { type: "button", onclick: () => usePrompt(job.prompt_text) }, "Use this prompt"),
      );
      return card;
    }
    const alt = promptText || (job.task === "upscale" ? "Upscaled image" : "Generated image");
    card.append(
      h("div", { class: "grid" }, job.outputs.map((o) => outputFigure(o, alt))),
      job.seed !== null && job.seed !== undefined
        ? h("p", { class: "seed" }, `Seed ${job.seed} `, h("button", { type: "button", class: "small quiet", onclick: () => { seed.value = String(job.seed); seed.focus(); } }, "Reuse seed"))
        : null,
    );
    return card;
  }

  function outputFigure(output, alt) {
    let published = false;
    const publish = h("button", { type: "button", class: "small quiet", "aria-pressed": "false" }, "Publish");
    publish.addEventListener("click", async () => {
      publish.disabled = true;
      try {
        await api.patch(`/v1/media/${output.id}`, { public: !published });
        published = !published;
        publish.textContent = published ? "Published" : "Publish";
        publish.setAttribute("aria-pressed", String(published));
        ctx.notify(published ? "Published to the gallery." : "Removed from the gallery.");
      } catch (error) {
        showError(error);
      }
      publish.disabled = false;
    });
    return h(
      "figure",
      {},
      h("img", { src: output.url, alt, width: output.width, height: output.height }),
      h(
        "figcaption",
        { class: "actions" },
        h("a", { href: output.url, download: `atelier-${output.id}.${output.content_type.split("/")[1]}`, class: "button small" }, "Download"),
        h("button", { type: "button", class: "small quiet", onclick: () => useAsInput(output) }, "Use as input"),
        publish,
      ),
    );
  }

  function useAsInput(output) {
    state.input = { id: output.id, url: output.url, width: output.width, height: output.height };
    const next = state.task === "text_to_image" || state.task === "image_to_prompt" ? "edit" : state.task;
    taskRadios.find((r) => r.value === next).checked = true;
    setTask(next);
    ctx.notify("The image is now the input. Choose a task.");
    taskRadios.find((r) => r.checked).focus();
  }

  function usePrompt(text) {
    prompt.value = text || "";
    taskRadios[0].checked = true;
    setTask("text_to_image");
    prompt.focus();
  }

  setTask(state.task);
  return () => {
    if (state.stop) state.stop();
    painter.dispose();
  };
}
