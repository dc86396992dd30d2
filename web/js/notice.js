// The page's status line: a short message under the header, in the flow (it covers no field or link), gone after
// a while; screen readers hear it (role="status").

const SHOWN_MS = 6000;
let timer = null;

export function notify(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  clearTimeout(timer);
  timer = setTimeout(() => (notice.textContent = ""), SHOWN_MS);
}
