// The Studio: the controls (a task, its model, the prompt and the settings the API says the task takes, the cost
// before submitting) beside the feed of the person's generations, newest first. A submitted job is a card at the
// top of the feed at once; several may run together; the feed is rebuilt from the API after a reload or a visit
// elsewhere, and the draft (prompt and settings) is kept for the tab in sessionStorage.

import { api } from "../api.js";
import { catalog as loadCatalog } from "../catalog.js";
import { h, replace, plural } from "../dom.js";
import { describe, jobCard, requestOf } from "../feed.js";
import { takeHandOff } from "../handoff.js";
import { FINISHED, remember, remembered, scaled, track, upscaleTargets } from "../jobs.js";
import { MaskPainter } from "../mask.js";

const DRAFT = "atelier.draft";
const FEED_PAGE = 12;

function readJson(key, fallback) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null") ?? fallback;
  } catch {
    return fallback;
  }
}

export async function render(root, ctx) {
  const [catalog, credits] = await Promise.all([loadCatalog(), api.get("/v1/credits").catch(() => null)]);
  const given = takeHandOff();
  const draft = given ? { ...readJson(DRAFT, {}), ...given } : readJson(DRAFT, {});
  // "Try this prompt" (gallery, start page) links to `#/studio?prompt=…`: the first task (Create), with the prompt.
  if (ctx.query && ctx.query.get("prompt")) Object.assign(draft, { task: catalog.tasks[0].id, prompt: ctx.query.get("prompt") });
  const firstTask = catalog.task(draft.task) ? draft.task : catalog.tasks[0].id;
  const state = {
    task: firstTask,
    input: draft.input || null, // {id, url, width, height, kind}
    available: credits ? credits.available : null,
    short: false, // the last answer was 402: Generate waits for the balance to change
    waitUntil: 0, // a 429's Retry-After: Generate waits until then
    cards: new Map(), // job id -> card
    stops: [],
    cursor: null,
    gone: false,
  };

  // --- controls ------------------------------------------------------------------------------------------
  const taskRadios = catalog.tasks.map((t) =>
    h("input", { type: "radio", name: "task", id: `task-${t.id}`, value: t.id, checked: t.id === state.task, onchange: () => setTask(t.id) }),
  );
  const modelSelect = h("select", { id: "studio-model", onchange: () => refresh() });
  const modelInfo = h("p", { class: "help", id: "model-info" });
  const prompt = h("textarea", {
    id: "studio-prompt",
    rows: 4,
    placeholder: "A lighthouse on a cliff at dawn, watercolor",
    "aria-describedby": "prompt-count",
    oninput: () => refresh(),
    onpaste: (event) => pasted(event),
    onkeydown: (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submit();
      }
    },
  });
  prompt.value = draft.prompt || "";
  const promptCount = h("p", { class: "help counter", id: "prompt-count" });
  const pasteNote = h("p", { class: "error", role: "status" });
  const recent = h("div", { class: "recent" });
  const aspect = h("select", { id: "studio-aspect", onchange: () => refresh() });
  const count = h("select", { id: "studio-count", onchange: () => refresh() });
  const sizeGroup = radioGroup("size", "Size", catalog.sizes, draft.size || (catalog.sizes[0] || {}).id);
  const strengthGroup = radioGroup("strength", "Strength", catalog.strengths, draft.strength || catalog.defaultStrength);
  const seed = h("input", { id: "studio-seed", type: "number", min: 0, max: 4294967295, step: 1, inputmode: "numeric", placeholder: "random", oninput: () => saveDraft() });
  if (draft.seed !== undefined && draft.seed !== null) seed.value = String(draft.seed);
  const target = h("select", { id: "studio-target", onchange: () => refresh() });
  const targetModel = h("select", { id: "studio-target-model", onchange: () => saveDraft() });
  const file = h("input", { id: "studio-image", type: "file", accept: "image/png,image/jpeg,image/webp", onchange: () => uploadChosen() });
  const inputPreview = h("div", { class: "input-preview" });
  const cost = h("p", { class: "cost", id: "studio-cost", "aria-live": "polite" });
  const generate = h("button", { type: "submit", class: "primary", "aria-keyshortcuts": "Control+Enter Meta+Enter" }, "Generate");
  const formError = h("div", { class: "error", role: "alert" });

  const field = (id, label, control, extra) => h("div", { class: "field", "data-field": id }, h("label", { for: control.id }, label), control, extra);
  // The chosen model's own controls (its `controls` in GET /v1/studio), filled with its defaults.
  const negative = h("textarea", { id: "studio-negative", rows: 2, placeholder: "What to keep out of the image", oninput: () => saveDraft() });
  const guidance = h("input", { id: "studio-guidance", type: "number", step: 0.5, inputmode: "decimal", oninput: () => saveDraft() });
  const steps = h("input", { id: "studio-steps", type: "number", step: 1, inputmode: "numeric", oninput: () => saveDraft() });
  const outputFormat = h("select", { id: "studio-format", onchange: () => saveDraft() }, ["webp", "png", "jpeg"].map((f) => h("option", { value: f }, f.toUpperCase())));
  const controlFields = {
    negative_prompt: field("negative", "Negative prompt", negative),
    guidance: field("guidance", "Guidance", guidance, h("p", { class: "help", id: "guidance-range" })),
    steps: field("steps", "Steps", steps, h("p", { class: "help", id: "steps-range" })),
    output_format: field("format", "File format", outputFormat),
  };
  const controlValues = { negative_prompt: negative, guidance, steps, output_format: outputFormat };
  const fields = {
    prompt: h("div", { class: "field", "data-field": "prompt" }, h("label", { for: prompt.id }, "Prompt"), prompt, promptCount, pasteNote, recent),
    image: field("image", "Image", file, inputPreview),
    model: field("model", "Model", modelSelect, modelInfo),
    aspect_ratio: field("aspect", "Aspect ratio", aspect),
    count: field("count", "Images", count),
    size: sizeGroup.element,
    strength: strengthGroup.element,
    seed: field("seed", "Seed", seed, h("p", { class: "help" }, "Leave empty for a random one; reuse a seed to get the same image again.")),
    target_long_side: field("target", "Output size", target),
    target_model: field("targetModel", "Write the prompt for", targetModel),
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
      catalog.tasks.map((t, i) => h("span", { class: "task" }, taskRadios[i], h("label", { for: `task-${t.id}` }, t.label))),
    ),
    fields.image,
    maskTools,
    fields.prompt,
    h("div", { class: "go" }, generate, cost),
    formError,
    fields.model,
    h("div", { class: "row" }, fields.aspect_ratio, fields.count),
    fields.size,
    fields.strength,
    fields.target_long_side,
    fields.target_model,
    h("details", { class: "advanced", id: "studio-advanced" }, h("summary", {}, "Model settings"), Object.values(controlFields)),
    fields.seed,
  );

  // --- the feed ----------------------------------------------------------------------------------------------
  const stageInput = h("div", { class: "stage-input" });
  const running = h("p", { class: "help", id: "feed-running" });
  const cards = h("div", { class: "cards" });
  const more = h("button", { type: "button", class: "quiet", hidden: true, onclick: () => loadMore() }, "Load more");
  const empty = h("p", { class: "muted empty" }, "Loading your generations…");
  const feed = h(
    "section",
    { class: "feed", "aria-labelledby": "feed-title" },
    h("div", { class: "feed-head" }, h("h2", { id: "feed-title" }, "Your generations"), running),
    empty,
    cards,
    more,
  );

  root.append(
    h(
      "div",
      { class: "studio-head" },
      h("h1", {}, "Studio"),
      h("p", { class: "balance", id: "studio-balance" }, state.available === null ? "" : `${plural(state.available, "credit", "credits")} available`),
    ),
    h("div", { class: "studio" }, form, h("div", { class: "stage" }, stageInput, feed)),
  );

  // --- behaviour ---------------------------------------------------------------------------------------
  function radioGroup(name, legend, options, chosen) {
    const inputs = options.map((o, i) =>
      h("input", { type: "radio", name, id: `${name}-${o.id}`, value: o.id, checked: chosen ? o.id === chosen : i === 0, onchange: () => refresh() }),
    );
    const element = h(
      "fieldset",
      { class: "choice", "data-field": name, hidden: !options.length },
      h("legend", {}, legend),
      options.map((o, i) => h("span", { class: "task" }, inputs[i], h("label", { for: `${name}-${o.id}` }, o.label))),
    );
    const value = () => (inputs.find((r) => r.checked) || {}).value;
    return { element, value, show: (ids) => inputs.forEach((r) => (r.parentElement.hidden = !ids.includes(r.value))) };
  }

  function taskSpec() {
    return catalog.task(state.task);
  }

  function takes(name) {
    return taskSpec().fields.has(name);
  }

  function currentModel() {
    const list = catalog.modelsFor(state.task);
    return list.find((m) => m.id === modelSelect.value) || list[0];
  }

  function setTask(task, { keepModel } = {}) {
    state.task = task;
    const list = catalog.modelsFor(task);
    const wanted = keepModel || (list.some((m) => m.id === draft.model) ? draft.model : taskSpec().default_model);
    replace(modelSelect, list.map((m) => h("option", { value: m.id, selected: m.id === wanted }, modelLabel(m))));
    const chosen = count.value || draft.count;
    const range = taskSpec().count;
    replace(count, Array.from({ length: range.max - range.min + 1 }, (_, i) => range.min + i).map((n) => h("option", { value: n, selected: String(n) === String(chosen) }, String(n))));
    sizeGroup.show(taskSpec().sizes);
    replace(
      targetModel,
      h("option", { value: "" }, "A plain description"),
      catalog.promptTargets.map((t) => h("option", { value: t.id, selected: t.id === draft.target_model }, t.label)),
    );
    refresh();
  }

  // The name only, so it fits a phone's select: its speed and price stand right below it (modelInfo).
  function modelLabel(m) {
    return m.name;
  }

  // Show only the chosen model's controls; a newly chosen model starts from its own defaults.
  function showControls(m) {
    const offered = new Set(m ? m.controls || [] : []);
    for (const [name, el] of Object.entries(controlFields)) el.hidden = !offered.has(name) || !takes(name);
    const advanced = form.querySelector("#studio-advanced");
    advanced.hidden = Object.values(controlFields).every((el) => el.hidden);
    if (!m || state.controlsFor === m.id) return;
    state.controlsFor = m.id;
    const d = m.defaults || {};
    const saved = draft.controls && draft.controls.model === m.id ? draft.controls : {};
    negative.value = saved.negative_prompt ?? d.negative_prompt ?? "";
    if (m.guidance) Object.assign(guidance, { min: m.guidance.min, max: m.guidance.max });
    guidance.value = String(saved.guidance ?? d.guidance ?? "");
    form.querySelector("#guidance-range").textContent = m.guidance ? `${m.guidance.min} to ${m.guidance.max}` : "";
    if (m.steps_range) Object.assign(steps, { min: m.steps_range.min, max: m.steps_range.max });
    steps.value = String(saved.steps ?? d.steps ?? "");
    form.querySelector("#steps-range").textContent = m.steps_range ? `${m.steps_range.min} to ${m.steps_range.max}` : "";
    outputFormat.value = saved.output_format ?? d.output_format ?? "webp";
  }

  // The controls the person changed from the model's defaults (the API fills in the rest).
  function controlsBody(m) {
    const body = {};
    if (!m) return body;
    const d = m.defaults || {};
    for (const name of m.controls || []) {
      if (!takes(name) || controlFields[name].hidden) continue;
      const raw = controlValues[name].value;
      if (name === "negative_prompt") {
        if (raw.trim()) body.negative_prompt = raw;
      } else if (name === "output_format") {
        if (raw !== d.output_format) body.output_format = raw;
      } else if (raw !== "" && Number(raw) !== Number(d[name])) {
        body[name] = Number(raw);
      }
    }
    return body;
  }

  function priceText(m) {
    return state.task === "upscale" ? `${plural(m.price.credits_per_megapixel, "credit", "credits")} per megapixel` : `${plural(m.price.credits_per_image, "credit", "credits")} per image`;
  }

  function refresh() {
    const m = currentModel();
    if (m) {
      modelInfo.replaceChildren(
        `${m.licence.commercial ? "Commercial use allowed" : "Non-commercial licence"} (`,
        h("a", { href: m.licence.url, target: "_blank", rel: "noopener" }, m.licence.id),
        `). ${priceText(m)}. ${m.speed === "fast" ? "Fast" : "Slower, higher quality"}.`,
      );
    }
    for (const [name, el] of Object.entries(fields)) el.hidden = !takes(name);
    showControls(m);
    if (takes("size") && !taskSpec().sizes.length) fields.size.hidden = true;
    maskTools.hidden = !(takes("mask") && state.input);
    file.hidden = !taskSpec().image_kinds.includes("upload"); // variations start from an output, never an upload
    if (m && takes("aspect_ratio")) {
      const chosen = aspect.value || draft.aspect_ratio || (takes("image") ? "" : catalog.defaultAspectRatio);
      replace(
        aspect,
        takes("image") ? h("option", { value: "" }, "Like the image") : null, // the output follows its input
        m.aspect_ratios.map((a) => h("option", { value: a.aspect_ratio, selected: a.aspect_ratio === chosen }, `${a.aspect_ratio} (${a.width}×${a.height})`)),
      );
    }
    if (takes("target_long_side")) {
      const chosen = target.value;
      const options = state.input ? upscaleTargets(m, state.input.width, state.input.height) : [];
      replace(
        target,
        options.length
          ? options.map((t) => h("option", { value: t, selected: String(t) === chosen || (!chosen && t === options.at(-1)) }, `${t} px long side${t === 4096 ? " (4K)" : ""}`))
          : h("option", { value: "" }, state.input ? "This image is already as large as it can be" : "Choose an image first"),
      );
    }
    updateCounter();
    renderInput();
    updateGo();
    saveDraft();
  }

  function updateCounter() {
    const left = catalog.promptLimit - prompt.value.length;
    promptCount.textContent = left >= 0 ? `${left.toLocaleString()} characters left` : `${(-left).toLocaleString()} characters over the limit of ${catalog.promptLimit.toLocaleString()}`;
    promptCount.classList.toggle("over", left < 0);
    if (left >= 0) pasteNote.textContent = "";
  }

  // A paste that makes the prompt too long is kept whole (a browser's maxlength would cut it silently) and the
  // page says by how much it is over; Generate waits until it is short enough.
  function pasted(event) {
    const text = event.clipboardData ? event.clipboardData.getData("text") : "";
    const length = prompt.value.length - (prompt.selectionEnd - prompt.selectionStart) + text.length;
    if (length <= catalog.promptLimit) return;
    event.preventDefault();
    prompt.setRangeText(text, prompt.selectionStart, prompt.selectionEnd, "end");
    refresh();
    pasteNote.textContent = `That paste makes the prompt ${(length - catalog.promptLimit).toLocaleString()} characters longer than the limit of ${catalog.promptLimit.toLocaleString()}. Nothing was cut: shorten it to generate.`;
  }

  function saveDraft() {
    const input = state.input && !String(state.input.url).startsWith("blob:") ? state.input : state.input ? { ...state.input, url: null } : null;
    sessionStorage.setItem(
      DRAFT,
      JSON.stringify({
        task: state.task,
        model: modelSelect.value,
        prompt: prompt.value,
        aspect_ratio: aspect.value,
        count: count.value,
        size: sizeGroup.value(),
        strength: strengthGroup.value(),
        seed: seed.value === "" ? null : seed.value,
        target_model: targetModel.value,
        controls: { model: state.controlsFor, negative_prompt: negative.value, guidance: guidance.value, steps: steps.value, output_format: outputFormat.value },
        input,
      }),
    );
  }

  function outputSize() {
    const m = currentModel();
    if (takes("aspect_ratio") && m && aspect.value) {
      const a = m.aspect_ratios.find((r) => r.aspect_ratio === aspect.value);
      if (a) return [a.width, a.height];
    }
    if (takes("target_long_side") && state.input && target.value) return scaled(state.input.width, state.input.height, Number(target.value));
    if (state.input) return [state.input.width, state.input.height];
    return [1, 1];
  }

  function jobCost() {
    const [width, height] = takes("target_long_side") ? outputSize() : state.input ? [state.input.width, state.input.height] : [0, 0];
    return catalog.cost({
      task: state.task,
      model: takes("model") && currentModel() ? currentModel().id : null,
      count: takes("count") ? Number(count.value) : 1,
      aspectRatio: takes("aspect_ratio") ? aspect.value : null,
      size: takes("size") && !fields.size.hidden ? sizeGroup.value() : "standard",
      width,
      height,
    });
  }

  function activeJobs() {
    return [...state.cards.values()].filter((c) => !FINISHED.has(c.job.status)).length;
  }

  // Generate, the cost and what stands in the way, side by side where the eye is.
  function updateGo() {
    const credits = jobCost();
    const active = activeJobs();
    const limit = catalog.maxActiveJobs;
    running.textContent = active ? (limit ? `${active} of ${limit} jobs running at once` : `${plural(active, "job", "jobs")} running`) : "";
    const short = state.available !== null && credits !== null && credits > state.available;
    const full = !!limit && active >= limit;
    const tooLong = takes("prompt") && prompt.value.length > catalog.promptLimit;
    cost.textContent = credits === null ? "" : `This costs ${plural(credits, "credit", "credits")}.${state.available !== null ? ` You have ${state.available}.` : ""}`;
    generate.disabled = short || full || tooLong || state.short || Date.now() < state.waitUntil;
    if (short || state.short) {
      replace(
        formError,
        h("p", {}, "You don't have enough credits for this. Buy credits to continue."),
        h("p", {}, h("a", { href: "#/credits", class: "button small" }, "Buy credits")),
      );
    } else if (full) {
      replace(formError, h("p", {}, `${plural(limit, "job is", "jobs are")} running, the most at once. Generate again when one finishes, or cancel one.`));
    } else if (formError.dataset.kind === "limits") replace(formError);
    formError.dataset.kind = short || full || state.short ? "limits" : formError.dataset.kind === "limits" ? "" : formError.dataset.kind || "";
  }

  function renderInput() {
    if (!takes("image") || !state.input) {
      replace(stageInput);
      replace(inputPreview, !takes("image") ? "" : state.task === "vary" ? h("p", { class: "help" }, "Choose one of your images: its Variations button, in your generations or on its page.") : h("p", { class: "help" }, "JPEG, PNG or WebP. Or pick one from your History."));
      return;
    }
    replace(inputPreview, h("p", { class: "help" }, `Using an image of ${state.input.width}×${state.input.height} pixels.`));
    if (!state.input.url) return;
    if (takes("mask")) {
      replace(stageInput, painter.element);
      painter.load(state.input.url, state.input.width, state.input.height);
    } else {
      replace(stageInput, h("img", { class: "input-image", src: state.input.url, alt: "The input image" }));
    }
  }

  async function uploadChosen() {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    replace(formError);
    try {
      const uploaded = await api.upload(chosen);
      state.input = { id: uploaded.id, url: URL.createObjectURL(chosen), width: uploaded.width, height: uploaded.height, kind: "upload" };
      refresh();
    } catch (error) {
      showError(error);
      file.value = "";
    }
  }

  function showError(error) {
    formError.dataset.kind = "error";
    replace(
      formError,
      h("p", {}, error.message),
      error.status === 402 ? h("p", {}, h("a", { href: "#/credits", class: "button small" }, "Buy credits")) : null,
      error.status === 429 && error.retryAfter && error.code !== "too_many_active_jobs" ? h("p", {}, `You can try again in ${plural(error.retryAfter, "second", "seconds")}.`) : null,
    );
    if (error.status === 402) {
      state.short = true; // until the balance changes
      generate.disabled = true;
    }
    if (error.status === 429 && error.retryAfter) {
      state.waitUntil = Date.now() + error.retryAfter * 1000;
      generate.disabled = true;
      setTimeout(() => updateGo(), error.retryAfter * 1000 + 50);
    }
    formError.scrollIntoView({ block: "nearest" });
  }

  // The request, with only the fields GET /v1/studio says this task takes.
  function requestBody() {
    const body = { task: state.task };
    if (takes("model") && currentModel()) body.model = currentModel().id;
    if (takes("prompt") && (prompt.value || taskSpec().required.has("prompt"))) body.prompt = prompt.value;
    if (takes("image")) {
      if (!state.input) throw { message: state.task === "vary" ? "Choose one of your images first: its Variations button." : "Please choose an image first." };
      body.image = state.input.id;
    }
    if (takes("aspect_ratio") && aspect.value) body.aspect_ratio = aspect.value;
    if (takes("count")) body.count = Number(count.value);
    if (takes("seed") && seed.value !== "") body.seed = Number(seed.value);
    if (takes("size") && !fields.size.hidden && sizeGroup.value()) body.size = sizeGroup.value();
    if (takes("strength") && strengthGroup.value()) body.strength = strengthGroup.value();
    if (takes("target_long_side") && target.value) body.target_long_side = Number(target.value);
    if (takes("target_model") && targetModel.value) body.target_model = targetModel.value;
    Object.assign(body, controlsBody(currentModel()));
    return body;
  }

  async function submit() {
    if (generate.disabled) return;
    replace(formError);
    formError.dataset.kind = "";
    generate.disabled = true; // one job per click; enabled again once it is accepted
    try {
      const body = requestBody();
      if (takes("mask")) {
        if (painter.empty) throw { message: "Please paint the area to change first." };
        const mask = await api.upload(await painter.maskFile(), "mask");
        body.mask = mask.id;
      }
      const [width, height] = outputSize();
      await start(body, { prompt: body.prompt || "", count: body.count || 1, width, height });
    } catch (error) {
      showError(error);
    }
    updateGo();
  }

  // Submit a request (from the form, Re-run, Upscale to 4K) and put its card at the top of the feed, focused.
  async function start(body, meta) {
    const accepted = await api.submitJob(body);
    remember(accepted.id, { ...meta, body });
    const job = { id: accepted.id, task: body.task, model: body.model, status: accepted.status, progress: 0, outputs: [], cancel_requested: false, cost: accepted.cost };
    const card = addCard(job, { ...meta, body }, { top: true });
    bringIntoView(card.element);
    card.element.focus({ preventScroll: true });
    refreshBalance(); // the job's credits are held from now on
    return card;
  }

  // The new card's top (prompt, state, progress) in sight, below the sticky header, without jumping otherwise.
  function bringIntoView(el) {
    const top = el.getBoundingClientRect().top;
    const header = document.querySelector(".top");
    const covered = header ? header.getBoundingClientRect().bottom : 0;
    if (top < covered || top > window.innerHeight - 160) el.scrollIntoView({ block: "start" });
  }

  function addCard(job, meta, { top = false } = {}) {
    const d = describe(job, meta, catalog);
    d.body = meta.body || requestOf(job, catalog);
    const card = jobCard(job, d, {
      cancel: cancelJob,
      rerun: d.body ? rerun : null,
      vary: catalog.task("vary") ? vary : null,
      upscale: catalog.modelsFor("upscale").length ? upscale4k : null,
      useAsInput,
      reuseSeed: (value) => {
        seed.value = String(value);
        saveDraft();
        seed.focus();
      },
      usePrompt,
    });
    card.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape") prompt.focus();
    });
    state.cards.set(job.id, card);
    if (top) cards.prepend(card.element);
    else cards.append(card.element);
    empty.hidden = true;
    if (!FINISHED.has(job.status)) {
      state.stops.push(
        track(job.id, (next, error) => {
          if (!next) return;
          card.update(next);
          if (FINISHED.has(next.status)) refreshBalance();
          updateGo();
        }),
      );
    }
    return card;
  }

  async function cancelJob(job, say) {
    try {
      const answer = await api.post(`/v1/jobs/${job.id}/cancel`);
      state.cards.get(job.id).update(answer);
      if (FINISHED.has(answer.status)) {
        ctx.notify("Canceled. Your credits were returned.");
        refreshBalance();
      }
    } catch (error) {
      if (error.code !== "job_finished") say(error.message);
    }
    updateGo();
  }

  async function rerun(d) {
    const body = { ...d.body };
    delete body.seed; // same settings, a new seed
    try {
      await start(body, { prompt: d.prompt, count: d.count, width: d.width, height: d.height });
    } catch (error) {
      showError(error);
    }
    updateGo();
  }

  function inputFrom(output) {
    return { id: output.id, url: output.url, width: output.width, height: output.height, kind: "output" };
  }

  function vary(output, d) {
    state.input = inputFrom(output);
    if (d.prompt && !prompt.value) prompt.value = d.prompt;
    chooseTask("vary");
    const first = fields.strength.querySelector("input:checked") || fields.strength.querySelector("input");
    (first || generate).focus();
    ctx.notify("Variations of this image: choose a strength and how many, then Generate.");
  }

  async function upscale4k(output) {
    const m = catalog.modelsFor("upscale")[0];
    const targets = upscaleTargets(m, output.width, output.height);
    if (!targets.length) return showError({ message: "This image is already as large as it can be." });
    const long = targets.at(-1);
    const [width, height] = scaled(output.width, output.height, long);
    try {
      await start({ task: "upscale", model: m.id, image: output.id, target_long_side: long }, { prompt: "", count: 1, width, height });
    } catch (error) {
      showError(error);
    }
    updateGo();
  }

  function chooseTask(task) {
    file.value = ""; // the file field no longer names a file that is not the input
    const radio = taskRadios.find((r) => r.value === task);
    if (radio) radio.checked = true;
    setTask(task);
  }

  function useAsInput(output) {
    state.input = inputFrom(output);
    const next = takes("image") && state.task !== "image_to_prompt" && state.task !== "vary" ? state.task : "edit";
    chooseTask(next);
    ctx.notify("The image is now the input. Choose a task.");
    taskRadios.find((r) => r.checked).focus();
  }

  // "Use this prompt": to Create, with the model the prompt was written for where one is offered (a model id, or
  // the first Create model of that prompt family), else the task's default.
  function usePrompt(text, targetModel) {
    prompt.value = text || "";
    const create = catalog.tasks[0].id;
    const target = catalog.promptTargets.find((t) => t.id === targetModel);
    const models = catalog.modelsFor(create);
    const match = target ? models.find((m) => m.id === target.model) || models.find((m) => m.prompt_family === target.family) : null;
    if (match) draft.model = match.id;
    chooseTask(create);
    prompt.focus();
  }

  // The person's recent prompts (their own jobs, newest first), one click to use again.
  function loadRecentPrompts() {
    api
      .get("/v1/jobs/prompts?limit=8")
      .then((page) => {
        if (state.gone || !page.items.length) return;
        replace(
          recent,
          h(
            "details",
            {},
            h("summary", {}, "Recent prompts"),
            h(
              "ul",
              { "aria-label": "Recent prompts" },
              page.items.map((p) =>
                h("li", {}, h("button", { type: "button", class: "small quiet", title: p.prompt, onclick: () => { prompt.value = p.prompt; refresh(); prompt.focus(); } }, p.prompt)),
              ),
            ),
          ),
        );
      })
      .catch(() => {});
  }

  function refreshBalance() {
    api
      .get("/v1/credits")
      .then((c) => {
        if (c.available !== state.available) state.short = false; // the balance changed: try again
        state.available = c.available;
        const balance = document.getElementById("studio-balance");
        if (balance) balance.textContent = `${plural(c.available, "credit", "credits")} available`;
        updateGo();
      })
      .catch(() => {});
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await api.get(`/v1/jobs?limit=${FEED_PAGE}&cursor=${encodeURIComponent(state.cursor)}`);
      for (const job of page.items) if (!state.cards.has(job.id) && shown(job)) addCard(job, metaOf(job));
      state.cursor = page.next_cursor;
    } catch (error) {
      ctx.notify(error.message);
    }
    more.disabled = false;
    more.hidden = !state.cursor;
  }

  // A finished job whose images were all deleted has nothing left to show.
  function shown(job) {
    return !(job.status === "succeeded" && job.task !== "image_to_prompt" && !job.outputs.length);
  }

  function metaOf(job) {
    return remembered(job.id);
  }

  async function restoreInput() {
    // A signed link in the draft may have expired, and an uploaded file's preview was local: ask for a fresh one.
    if (!state.input || !state.input.id) return;
    try {
      const item = await api.get(`/v1/media/${state.input.id}`);
      state.input = { id: item.id, url: item.url, width: item.width, height: item.height, kind: item.kind };
    } catch {
      state.input = null;
    }
    refresh();
  }

  const onVisible = () => {
    if (document.visibilityState === "visible") refreshBalance();
  };
  document.addEventListener("visibilitychange", onVisible);

  setTask(state.task);
  loadRecentPrompts();
  // The feed loads once the controls are on screen, not before them: the prompt is usable at once.
  api
    .get(`/v1/jobs?limit=${FEED_PAGE}`)
    .then((page) => {
      if (state.gone) return;
      for (const job of page.items) if (!state.cards.has(job.id) && shown(job)) addCard(job, metaOf(job));
      state.cursor = page.next_cursor;
      more.hidden = !state.cursor;
      empty.textContent = "Nothing yet. What you make appears here, newest first.";
      updateGo();
    })
    .catch((error) => {
      if (!state.gone) empty.textContent = error.message;
    });
  if (state.input) restoreInput();
  return () => {
    state.gone = true;
    for (const stop of state.stops) stop();
    document.removeEventListener("visibilitychange", onVisible);
    painter.dispose();
  };
}
