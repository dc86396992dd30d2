// A job as a card in the Studio's feed ("Your generations"): from the moment it is accepted it has the shape of
// its result (the aspect ratio, one slot per image), its prompt, its state, a progressbar with Cancel inside, and
// its images replace the placeholders as they arrive. Each image links to its own page (#/image/{id}).
// The card knows nothing about the form: what its buttons do comes in `actions`.

import { h, replace, plural } from "./dom.js";
import { FINISHED, WITHHELD_POLICY_SECTION, withheldReason, withheldSentence } from "./jobs.js";
import { sentenceFor } from "./errors.js";

// What a card shows of a job. `job` is GET /v1/jobs/{id} (or the 202 answer, before the first poll); `meta` what the
// page knew at submission (prompt, the expected size) for a job the API does not describe yet.
export function describe(job, meta = {}, catalog = null) {
  const count = job.count || meta.count || (job.outputs && job.outputs.length) || 1;
  let width = job.width || meta.width;
  let height = job.height || meta.height;
  const first = job.outputs && job.outputs[0];
  if (first) [width, height] = [first.width, first.height];
  else if (!width && job.aspect_ratio) [width, height] = job.aspect_ratio.split(":").map(Number);
  const task = catalog ? catalog.task(job.task) : null;
  return {
    id: job.id,
    task: job.task,
    taskLabel: task ? task.label : job.task,
    hasSeed: task ? task.fields.has("seed") : false,
    model: job.model,
    size: job.size || null,
    prompt: job.prompt ?? meta.prompt ?? "",
    count: job.task === "image_to_prompt" ? 0 : count,
    width: width || 1,
    height: height || 1,
  };
}

// The request that makes a job again (same settings; the seed left out, so a new one), from what the API says the
// job was; null when that is not enough (an inpaint's mask is not part of it).
export function requestOf(job, catalog) {
  const task = catalog.task(job.task);
  if (!task) return null;
  const known = { model: job.model, prompt: job.prompt, aspect_ratio: job.aspect_ratio, count: job.count, size: job.size, strength: job.strength, image: job.image };
  const body = { task: job.task };
  for (const [name, value] of Object.entries(known)) if (task.fields.has(name) && value !== null && value !== undefined) body[name] = value;
  for (const name of task.required) if (body[name] === undefined) return null;
  return body;
}

export function cardName(d) {
  if (d.prompt) return d.prompt;
  if (d.task === "upscale") return "Upscaled image";
  if (d.task === "image_to_prompt") return "Image description";
  return "Generated image";
}

function stateWords(job) {
  if (job.status === "queued") return "Waiting for a free worker…";
  if (job.status === "running") {
    if (job.cancel_requested) return "Stopping…";
    const percent = Math.round((job.progress || 0) * 100);
    const parts = [`Working… ${percent}%`];
    if (job.step && job.steps) parts.push(`step ${job.step} of ${job.steps}`);
    if (job.eta_seconds !== null && job.eta_seconds !== undefined) parts.push(`about ${plural(Math.max(1, Math.round(job.eta_seconds)), "second", "seconds")} left`);
    return parts.join(" · ");
  }
  if (job.status === "succeeded") return "Done";
  if (job.status === "canceled") return "Canceled: nothing was charged.";
  return "Failed";
}

function failure(job) {
  if (!job.error) return "The job failed. Your credits were returned.";
  const words = sentenceFor(job.error.code, 422, job.error.message || "The job failed.");
  return words.includes("credits were returned") ? words : `${words} Your credits were returned.`;
}

// A card for one job. `actions`: { cancel(job), rerun(d), vary(output, d), upscale(output, d), useAsInput(output),
// reuseSeed(seed), usePrompt(text) }, each optional. Returns { element, update(job) }.
export function jobCard(job, d, actions = {}) {
  const name = cardName(d);
  const element = h("article", { class: "card", "aria-label": name, tabindex: "-1", "data-job": job.id });
  const state = h("p", { class: "card-state" });
  const fill = h("span", { class: "fill" });
  const bar = h("div", { role: "progressbar", "aria-label": "Progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
  const cancel = h("button", { type: "button", class: "small quiet" }, "Cancel");
  const progress = h("div", { class: "card-progress" }, bar, cancel);
  const slots = h("ul", { class: "slots" });
  slots.style.setProperty("--ratio", `${d.width} / ${d.height}`); // CSSOM: the CSP allows no style attributes
  const extra = h("div", { class: "card-extra" });
  const error = h("p", { class: "error", role: "alert" });
  let finished = false;
  // aria-disabled, not disabled: a disabled button loses focus, and focus would fall to <body>.
  cancel.addEventListener("click", async () => {
    if (cancel.getAttribute("aria-disabled") === "true") return;
    cancel.setAttribute("aria-disabled", "true");
    if (actions.cancel) await actions.cancel(job, (message) => (error.textContent = message));
  });
  element.append(
    h("div", { class: "card-head" }, h("p", { class: "card-prompt" }, name), h("p", { class: "card-meta" }, d.taskLabel)),
    state,
    progress,
    d.count ? slots : null,
    extra,
    error,
  );
  replace(slots, Array.from({ length: d.count }, () => h("li", { class: "slot placeholder" }, h("span", { class: "visually-hidden" }, "Image on its way"))));

  function update(next) {
    if (finished || !next) return;
    job = next;
    state.textContent = stateWords(job);
    const percent = Math.round((job.progress || 0) * 100);
    bar.setAttribute("aria-valuenow", String(job.status === "succeeded" ? 100 : percent));
    fill.style.width = `${percent}%`;
    if (job.cancel_requested) cancel.setAttribute("aria-disabled", "true");
    if (job.outputs && job.outputs.length) showOutputs(job.outputs);
    if (!FINISHED.has(job.status)) return;
    finished = true;
    const hadFocus = progress.contains(document.activeElement);
    progress.remove();
    if (hadFocus) element.focus(); // Cancel went away: focus stays on this card, never falls to <body>
    element.classList.add(`is-${job.status}`);
    if (job.status === "succeeded") state.textContent = job.task === "image_to_prompt" ? "Done" : `Done: ${plural(job.outputs.length, "image", "images")}`;
    if (job.status === "failed") error.textContent = failure(job);
    if (job.status !== "succeeded") {
      slots.remove();
      if (actions.rerun && job.status === "failed") extra.append(h("div", { class: "actions" }, rerunButton()));
      return;
    }
    const bits = [];
    if (job.task === "image_to_prompt") {
      bits.push(h("blockquote", { class: "prompt-text" }, job.prompt_text || ""));
      if (actions.usePrompt) bits.push(h("button", { type: "button", class: "small", onclick: () => actions.usePrompt(job.prompt_text, job.target_model) }, "Use this prompt"));
    }
    if (job.withheld) bits.push(withheldNote(job));
    if (d.hasSeed && job.seed !== null && job.seed !== undefined) {
      bits.push(
        h(
          "p",
          { class: "seed" },
          `Seed ${job.seed} `,
          actions.reuseSeed ? h("button", { type: "button", class: "small quiet", onclick: () => actions.reuseSeed(job.seed) }, "Reuse seed") : null,
        ),
      );
    }
    if (actions.rerun && job.task !== "image_to_prompt") bits.push(h("div", { class: "actions" }, rerunButton()));
    replace(extra, bits);
  }

  // A partly delivered job says so on its card; a safety-check decision links to what the policy says about it.
  function withheldNote(job) {
    return h(
      "p",
      { class: "withheld", role: "note" },
      withheldSentence(job),
      withheldReason(job),
      job.withheld.reason === "moderation"
        ? [" ", h("a", { href: `#/policy/privacy#${WITHHELD_POLICY_SECTION}`, target: "_blank", rel: "noopener" }, "What this means")]
        : null,
    );
  }

  function rerunButton() {
    return h("button", { type: "button", class: "small", onclick: () => actions.rerun(d, job) }, "Re-run");
  }

  function showOutputs(outputs) {
    replace(
      slots,
      outputs.map((o) =>
        h(
          "li",
          { class: "slot" },
          h("a", { href: `#/image/${o.id}`, class: "open" }, h("img", { src: outputs.length > 1 ? o.thumbnail_url || o.url : o.url, alt: name, width: o.width, height: o.height })),
          h(
            "div",
            { class: "actions" },
            actions.vary && d.task !== "upscale" ? h("button", { type: "button", class: "small quiet", onclick: () => actions.vary(o, d) }, "Variations") : null,
            actions.upscale && ["text_to_image", "vary"].includes(d.task) && d.size !== "4k" ? h("button", { type: "button", class: "small quiet", onclick: () => actions.upscale(o, d) }, "Upscale to 4K") : null,
            actions.useAsInput ? h("button", { type: "button", class: "small quiet", onclick: () => actions.useAsInput(o, d) }, "Use as input") : null,
          ),
        ),
      ),
    );
  }

  update(job);
  return { element, update, get job() { return job; } };
}
