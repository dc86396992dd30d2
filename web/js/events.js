// A named event with a payload on the platform's own EventTarget (no hand-rolled listener sets).

export function emitter() {
  const target = new EventTarget();
  return {
    on: (name, fn) => target.addEventListener(name, (event) => fn(event.detail)),
    emit: (name, detail) => target.dispatchEvent(new CustomEvent(name, { detail })),
  };
}
