"""The studio web app's first load, measured in headless Chromium against the local stack.

Prints the JS+CSS transferred (compressed, as served) on a first visit to the studio of a signed-in person, the
time from navigation until the studio is usable (the Prompt box and the Generate button on screen), median and
worst of several cold loads, next to the targets (100 KB, 1 s), and the time from clicking Generate until the job's
card is on screen in "Your generations" (the stack runs no worker: the job stays queued, its card shows at once).

    .venv/bin/python bench/web.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench.processes import leave_on_sigterm, stop_stack

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARGS += ["--no-first-run"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stack(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL")}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "deploy.py", "local", "--data-dir", str(data_dir), "--port", str(port), "--workers", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(480):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit("the local stack did not start")


def _member(base: str) -> dict[str, Any]:
    """A signed-in, onboarded person's session, as the page keeps it."""
    signed: dict[str, Any] = httpx.post(f"{base}/v1/dev/sign-in", json={"email": "bench@example.com"}).json()
    headers = {"Authorization": f"Bearer {signed['access_token']}"}
    version = httpx.get(f"{base}/v1/policies/current").json()["version"]
    httpx.post(
        f"{base}/v1/me/onboarding", json={"age_confirmed": True, "accepted_policy_version": version}, headers=headers
    )
    return {"access_token": signed["access_token"], "expires_at": time.time() + 3600, "email": "bench@example.com"}


def _collector(into: list[Any]) -> Any:
    def collect(response: Any) -> None:  # Playwright wraps handlers, so a bound builtin will not do
        into.append(response)

    return collect


def measure(base: str, runs: int) -> None:
    session = _member(base)
    # Signed in, cookie choice made: the studio is what loads (the banner is a separate, later step).
    init = f"localStorage.setItem('atelier.session', {json.dumps(json.dumps(session))});"
    init += "localStorage.setItem('atelier.consent', '{}');"
    sizes: list[int] = []
    times: list[float] = []
    to_card: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.add_init_script(init)
            page = context.new_page()
            responses: list[Any] = []
            page.on("response", _collector(responses))
            page.goto(f"{base}/#/studio")
            page.get_by_role("textbox", name="Prompt").wait_for(state="visible")
            page.get_by_role("button", name="Generate").wait_for(state="visible")
            times.append(page.evaluate("performance.now()"))
            page.wait_for_load_state("networkidle")
            total = 0
            for response in responses:
                kind = response.request.resource_type
                if kind in ("script", "stylesheet"):
                    total += response.request.sizes()["responseBodySize"]
            sizes.append(total)
            prompt = f"bench run {len(sizes)}"
            page.get_by_role("textbox", name="Prompt").fill(prompt)
            card = page.get_by_role("region", name="Your generations").get_by_role("article", name=prompt)
            started = time.perf_counter()
            page.get_by_role("button", name="Generate").click()
            card.wait_for(state="visible")
            to_card.append((time.perf_counter() - started) * 1000)
            card.get_by_role("button", name="Cancel").click()  # the credits come back for the next run
            card.get_by_text("Canceled").wait_for(state="visible")
            context.close()
        browser.close()
    size = statistics.median(sizes)
    print(f"first load JS+CSS (compressed, transferred): {size / 1024:.1f} KB   target <= 100 KB")
    print(
        f"time to studio usable: median {statistics.median(times):.0f} ms, worst {max(times):.0f} ms "
        f"over {runs} cold loads   target <= 1000 ms"
    )
    print(
        f"Generate to the job's card on screen: median {statistics.median(to_card):.0f} ms, "
        f"worst {max(to_card):.0f} ms over {runs} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    leave_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="atelier-web-bench-") as folder:
        proc, base = _stack(Path(folder) / "data")
        try:
            measure(base, args.runs)
        finally:
            stop_stack(proc)


if __name__ == "__main__":
    main()
