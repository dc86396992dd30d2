// The inpainting mask: paint over the image with a mouse, pen or finger (pointer events cover all three).
// What is painted is drawn twice: tinted on the visible canvas, and white on black on a hidden canvas of the
// image's own size, which becomes the mask PNG (white = repaint).

import { h } from "./dom.js";

export class MaskPainter {
  constructor(onChange) {
    this.onChange = onChange;
    this.empty = true;
    this.image = h("img", { alt: "The image to inpaint", class: "mask-image" });
    this.canvas = h("canvas", { class: "mask-canvas", role: "img", "aria-label": "Mask painting area" });
    this.mask = document.createElement("canvas");
    this.brushInput = h("input", { id: "mask-brush", type: "range", min: 4, max: 160, value: 40 });
    this.element = h("div", { class: "mask-painter" }, this.image, this.canvas);
    this.drawing = false;
    this.last = null;
    this.handlers = {
      pointerdown: (e) => this.down(e),
      pointermove: (e) => this.move(e),
      pointerup: () => this.up(),
      pointercancel: () => this.up(),
    };
    for (const [name, fn] of Object.entries(this.handlers)) this.canvas.addEventListener(name, fn);
  }

  load(url, width, height) {
    if (this.url === url) return;
    this.url = url;
    this.image.src = url;
    for (const c of [this.canvas, this.mask]) {
      c.width = width;
      c.height = height;
    }
    this.clear();
  }

  clear() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    const m = this.mask.getContext("2d");
    m.fillStyle = "#000";
    m.fillRect(0, 0, this.mask.width, this.mask.height);
    this.empty = true;
    this.onChange();
  }

  fill() {
    const v = this.canvas.getContext("2d");
    v.fillStyle = "rgba(255, 72, 72, 0.45)";
    v.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const m = this.mask.getContext("2d");
    m.fillStyle = "#fff";
    m.fillRect(0, 0, this.mask.width, this.mask.height);
    this.empty = false;
    this.onChange();
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * this.canvas.width, ((event.clientY - box.top) / box.height) * this.canvas.height];
  }

  brush() {
    const box = this.canvas.getBoundingClientRect();
    return (Number(this.brushInput.value) * this.canvas.width) / Math.max(1, box.width);
  }

  stroke(from, to) {
    const size = this.brush();
    for (const [ctx, colour] of [[this.canvas.getContext("2d"), "rgba(255, 72, 72, 0.45)"], [this.mask.getContext("2d"), "#fff"]]) {
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = size;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(...from);
      ctx.lineTo(...to);
      ctx.stroke();
    }
    this.empty = false;
  }

  down(event) {
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.drawing = true;
    this.last = this.point(event);
    this.stroke(this.last, this.last);
  }

  move(event) {
    if (!this.drawing) return;
    const next = this.point(event);
    this.stroke(this.last, next);
    this.last = next;
  }

  up() {
    if (this.drawing) this.onChange();
    this.drawing = false;
  }

  maskFile() {
    return new Promise((resolve) => this.mask.toBlob((blob) => resolve(new File([blob], "mask.png", { type: "image/png" })), "image/png"));
  }

  dispose() {
    for (const [name, fn] of Object.entries(this.handlers)) this.canvas.removeEventListener(name, fn);
  }
}
