"""The studio web app in a real Chromium (Debian's `chromium`, driven by Playwright) against the real local stack.

One `deploy.py local` per test process (xdist worker) with its in-process worker, shared by every test of that
process; a second one with no worker (jobs stay queued) for the journeys that need a job to stay running.
Every test collects console errors and fails on any; `check_page` runs axe-core (no serious or critical
violation) and writes a screenshot to SCREENSHOTS, which the run prints at its end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import SCREENSHOTS  # printed at the end of the run by tests/conftest.py
from tests.support import polar
from tests.support.loopback import Loopback

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Root in a container needs --no-sandbox; the rest keeps a closed network quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1440, "height": 900}
MOBILE = {"width": 390, "height": 844}
# Chromium logs every 4xx answer as "Failed to load resource"; those are API answers the page shows in words
# (and the tests check the words), not script errors.
_EXPECTED_CONSOLE = ("Failed to load resource: the server responded with a status of 4",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM is None:  # ./dev test installs it (as root, with apt); elsewhere say what is missing
        skip = pytest.mark.skip(reason="chromium (Debian's package) is not on PATH")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@dataclass
class Stack:
    base: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: BinaryIO

    def database_url(self) -> str:
        """The embedded Postgres the stack runs (its socket directory is line 5 of postmaster.pid)."""
        lines = (self.data_dir / "pg" / "postmaster.pid").read_text().splitlines()
        return f"postgresql://postgres:@/postgres?host={lines[4]}&port={lines[3]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Every test browses from 127.0.0.1, so the per-address budgets are widened; per-account ones stay as shipped
# except where a journey needs to meet one (the idle stack's job budget, for the 429 journey).
SHARED_ADDRESS_LIMITS = (
    "public.ip=5000/60,account.ip=10000/60,jobs.ip=1000/60,uploads.ip=1000/3600,contact.ip=1000/3600"
)


def start_stack(data_dir: Path, workers: int, limits: str = "", extra_env: dict[str, str] | None = None) -> Stack:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET")}
    env.update(
        {
            "ATELIER_ENV": "local",
            "ATELIER_TRASH_DAYS": "0",
            "ATELIER_RATE_LIMITS": ",".join(x for x in (SHARED_ADDRESS_LIMITS, limits) if x),
            **(extra_env or {}),
        }
    )
    log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "deploy.py",
            "local",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the local stack exited; see {log.name}"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return Stack(base, data_dir, proc, log)
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    proc.kill()
    proc.wait()
    log.close()
    pytest.fail("the local stack did not become healthy")


def stop_stack(stack: Stack) -> None:
    stack.proc.send_signal(signal.SIGINT)
    try:
        stack.proc.wait(timeout=30)
    finally:
        if stack.proc.poll() is None:
            stack.proc.kill()
            stack.proc.wait()
        stack.log.close()


@pytest.fixture(scope="session")
def polar_server() -> Iterator[Loopback]:
    """Polar's API (checkout and customer-portal sessions) at its HTTP boundary, for the main stack."""
    with polar.polar_api() as server:
        yield server


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, polar_server: Loopback) -> Iterator[Stack]:
    billing = {
        "POLAR_ACCESS_TOKEN": polar.TOKEN,
        "POLAR_API_URL": polar_server.url,
        "ATELIER_CHECKOUT_SUCCESS_URL": "http://127.0.0.1/#/credits",
        "ATELIER_PORTAL_RETURN_URL": "http://127.0.0.1/#/credits",
    }
    running = start_stack(tmp_path_factory.mktemp("web") / "data", workers=1, extra_env=billing)
    yield running
    stop_stack(running)


@pytest.fixture(scope="session")
def idle_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """No worker: a submitted job stays queued until canceled (deterministic progress and Cancel); no billing.
    Three jobs per account in any ten minutes: a fourth is refused with a Retry-After the client never waits out."""
    running = start_stack(tmp_path_factory.mktemp("idle") / "data", workers=0, limits="jobs.user=3/600")
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module, not per session: while Playwright's sync API runs, its event loop counts as running in this
    thread, and the other tests a worker runs next (Modal's blocking calls, anyio) must not see it."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Tab:
    """A page, its base URL and the console errors it logged."""

    page: Page
    base: str
    viewport: str
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=lambda: list(_EXPECTED_CONSOLE))

    def allow_http(self, status: int) -> None:
        """A test that provokes this status (e.g. 503 from a service that is off) expects Chromium to log it."""
        self.allowed.append(f"Failed to load resource: the server responded with a status of {status}")

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.base}/#/{route}")

    def check(self, name: str) -> None:
        """axe-core on what is shown now (no serious or critical violation), then a screenshot."""
        self.page.wait_for_load_state("networkidle")
        results: Any = Axe().run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{self.viewport}.png"), full_page=True)
        assert bad == [], f"accessibility violations on {name}: {bad}"


# Playwright's `expect` waits 5 s by default: too short for a 2-core machine running the suite under load.
expect.set_options(timeout=20_000)

_ACCESS_TOKEN = """async () => {
  const headers = {"Content-Type": "application/json"};
  const answer = await fetch("/auth/refresh", {method: "POST", headers, body: "{}"});
  return (await answer.json()).access_token;
}"""


def access_token(page: Page) -> str:
    """An access token for the person signed in on this page, got as the page gets one after a reload: from its
    origin's HttpOnly session cookie (the page keeps its own only in memory, out of reach)."""
    token: str = page.evaluate(_ACCESS_TOKEN)
    return token


def new_tab(browser: Browser, base: str, viewport: str = "desktop", **context: Any) -> Tab:
    size = MOBILE if viewport == "mobile" else DESKTOP
    options: dict[str, Any] = {"viewport": size, "accept_downloads": True}
    if viewport == "mobile":
        options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
    options.update(context)
    ctx = browser.new_context(**options)
    page = ctx.new_page()
    page.set_default_timeout(30_000)  # actions and waits; `expect` has its own default, set once below
    tab = Tab(page, base, viewport)

    def console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith(tuple(tab.allowed)):
            tab.errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    return tab


@pytest.fixture
def tabs(browser: Browser) -> Iterator[list[Tab]]:
    """Tabs a test opens (each in its own browser context); none may log a console error."""
    opened: list[Tab] = []
    yield opened
    errors = [f"{tab.viewport}: {e}" for tab in opened for e in tab.errors]
    for tab in opened:
        tab.page.context.close()
    assert errors == [], f"console errors: {errors}"
