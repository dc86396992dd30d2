"""The privacy center in Chromium against the local stack: what we hold, an export downloaded and checked byte
for byte, deletion locked with its date then cancelled, erasure with no grace period (a new, empty account
afterwards), and each choice off in the page being off in the API at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from shared.kit.db import Database
from tests.browser.conftest import ROOT, Stack, Tab, access_token, new_tab, start_stack, stop_stack
from tests.browser.journeys import create, go, member, new_email, onboard, open_menu, sign_in
from tests.support import images


@pytest.fixture(scope="session")
def erasing_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """No grace period: `Delete my account` makes the account due for erasure at once. No worker, no billing."""
    running = start_stack(
        tmp_path_factory.mktemp("erasing") / "data", workers=0, extra_env={"ATELIER_DELETION_GRACE_DAYS": "0"}
    )
    yield running
    stop_stack(running)


def _headers(tab: Tab) -> dict[str, str]:
    token: str = access_token(tab.page)
    device: str = tab.page.evaluate("localStorage.getItem('atelier.device')")
    return {"Authorization": f"Bearer {token}", "X-Device-ID": device}


def _open_privacy(page: Page) -> None:
    go(page, "Privacy")
    expect(page.get_by_role("heading", name="Privacy", level=1)).to_be_visible()


def _count(stack: Stack, query: str, *params: object) -> int:
    """One count on the stack's own database."""
    db = Database(stack.database_url(), min_size=1, max_size=2).open()
    try:
        with db.transaction() as conn:
            row = conn.execute(query, params).fetchone()
    finally:
        db.close()
    assert row is not None
    return int(row["n"])


def _in_gallery(stack: Stack, media_id: str) -> bool:
    """What an anonymous visitor sees."""
    return media_id in [g["id"] for g in httpx.get(f"{stack.base}/v1/gallery").json()["items"]]


def _day(page: Page, iso: str) -> str:
    """The date as the page formats it (the browser's locale)."""
    shown: str = page.evaluate("(iso) => new Date(iso).toLocaleDateString(undefined, { dateStyle: 'medium' })", iso)
    return shown


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_every_section_and_what_we_hold_from_the_data_map(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    member(tab, "center")
    _open_privacy(page)
    for heading in (
        "What we hold about you",
        "Download my data",
        "Correct your details",
        "Your choices",
        "Restrict processing",
        "Your requests",
        "Policy versions",
        "Delete your account",
    ):
        expect(page.get_by_role("heading", name=heading, level=2)).to_be_visible()
    held = httpx.get(f"{stack.base}/v1/me/data", headers=_headers(tab)).json()
    holdings = page.get_by_role("list", name="What we hold")
    expect(holdings.get_by_role("listitem")).to_have_count(len(held["groups"]))
    for label in ("Your images and uploads", "Your credit purchases", "Your support conversations"):
        expect(holdings.get_by_role("heading", name=re.compile(f"^{label}"))).to_be_visible()
    choices = holdings.get_by_role("listitem").filter(has_text="Your choices and the policies you accepted")
    expect(choices).to_contain_text("records of yours")  # the policies accepted at onboarding, and choices
    purchases = holdings.get_by_role("listitem").filter(has_text="Your credit purchases")
    expect(purchases).to_contain_text("Invoices for 10 years")
    for schema_word in ("policy_acceptances", "credit_ledger", "pseudonymised", "datasets/", "files/", "{version}"):
        expect(page.get_by_role("region", name="What we hold about you")).not_to_contain_text(schema_word)
    versions = page.get_by_role("list", name="Versions you accepted").get_by_role("listitem")
    expect(versions).to_have_count(2)
    in_force = httpx.get(f"{stack.base}/v1/policies/current").json()  # other journeys may have published one
    expect(page.get_by_role("link", name=f"Privacy policy, version {in_force['version']}")).to_be_visible()
    expect(versions.first).to_contain_text("version")
    tab.check("privacy-center")

    page.get_by_label("Display name").fill("Ada L.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Your details are saved")).to_be_visible()
    assert httpx.get(f"{stack.base}/v1/me", headers=_headers(tab)).json()["display_name"] == "Ada L."
    page.get_by_role("button", name="Restrict processing").click()
    expect(page.get_by_text("Processing of your data is restricted")).to_be_visible()
    assert httpx.get(f"{stack.base}/v1/me", headers=_headers(tab)).json()["restricted"] is True
    requests = page.get_by_role("table", name="Your requests")
    expect(requests.get_by_role("row").filter(has_text="Correction")).to_contain_text("Done")
    expect(requests.get_by_role("row").filter(has_text="Restrict processing")).to_be_visible()
    page.get_by_role("button", name="Lift the restriction").click()
    expect(page.get_by_text("Processing is not restricted.")).to_be_visible()
    assert httpx.get(f"{stack.base}/v1/me", headers=_headers(tab)).json()["restricted"] is False


def test_export_is_downloaded_and_holds_my_images_byte_for_byte(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "export")
    prompt = f"a paper lantern {new_email('x')[:8]}"
    create(tab, prompt)
    headers = _headers(tab)
    media = httpx.get(f"{stack.base}/v1/media", headers=headers).json()["items"]
    assert media
    originals = {
        m["id"]: httpx.get(f"{stack.base}/v1/media/{m['id']}/download", headers=headers).content for m in media
    }

    _open_privacy(page)
    page.get_by_role("button", name="Download my data").click()
    expect(page.get_by_role("status").filter(has_text="Your archive is ready")).to_be_visible(timeout=120_000)
    exports = page.get_by_role("list", name="Your exports")
    expect(exports.get_by_role("listitem").first).to_contain_text("Ready")
    tab.check("privacy-export-ready")
    with page.expect_download() as downloading:
        exports.get_by_role("link", name="Download archive").first.click()
    path = downloading.value.path()
    with zipfile.ZipFile(path) as archive:
        files = [archive.read(name) for name in archive.namelist() if name.startswith("files/")]
    for media_id, original in originals.items():
        assert original in files, f"image {media_id} is not in the archive byte for byte"


@pytest.mark.parametrize("viewport", ["mobile"])
def test_delete_locks_with_the_date_and_cancel_restores_everything(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    member(tab, "regret")
    prompt = f"a stone bridge {new_email('x')[:8]}"
    create(tab, prompt)
    _open_privacy(page)
    expect(page.get_by_text("Kept", exact=True)).to_be_visible()  # what erasure keeps, with the reason
    kept = page.get_by_role("list", name="Kept after deletion")
    expect(kept.get_by_role("listitem").filter(has_text="Your credit purchases")).to_contain_text(
        "invoices for 10 years, because accounting law requires it"
    )
    summary = page.locator(".deletion-summary")  # (a CSS hook only to read its whole text)
    for schema_word in ("billing_orders", "pseudonymised pseudonymised", "datasets/", "{version}", "files/"):
        expect(summary).not_to_contain_text(schema_word)
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("button", name="Yes, delete my account").click()
    expect(page.get_by_role("heading", name="Your account is scheduled for deletion")).to_be_visible()
    scheduled = httpx.get(f"{stack.base}/v1/me", headers=_headers(tab)).json()["deletion_scheduled_for"]
    assert scheduled is not None
    expect(page.get_by_text(f"It will be deleted on {_day(page, scheduled)}.")).to_be_visible()
    expect(page.get_by_role("button", name="Download my data")).to_be_visible()  # exports stay available
    tab.check("privacy-locked")

    # The same news as a notice, readable while locked: counted in the navigation, opened, marked seen.
    nav = page.get_by_role("navigation", name="Main")
    go(page, "Notices 1 new")
    expect(page.get_by_role("heading", name="Notices", level=1)).to_be_visible()
    notice = page.get_by_role("listitem").filter(has_text="Your account is scheduled for deletion")
    notice.get_by_text("Your account is scheduled for deletion").click()
    expect(notice.get_by_text(f"will be deleted on {scheduled[:10]}")).to_be_visible()
    open_menu(page)
    expect(nav.get_by_role("link", name="Notices", exact=True)).to_be_visible()  # seen: the count is gone
    tab.check("notices-locked")

    tab.allow_http(403)
    go(page, "Studio")  # the whole app shows the locked state
    expect(page.get_by_role("heading", name="Your account is scheduled for deletion")).to_be_visible()
    page.get_by_role("button", name="Cancel deletion").click()
    expect(page.get_by_role("status").filter(has_text="Deletion canceled.")).to_be_visible()  # one spelling
    assert httpx.get(f"{stack.base}/v1/me", headers=_headers(tab)).json()["deletion_scheduled_for"] is None
    notices = httpx.get(f"{stack.base}/v1/me/notifications", headers=_headers(tab)).json()["items"]
    assert [n["kind"] for n in notices] == ["deletion_canceled", "deletion_scheduled"]
    go(page, "History")
    expect(page.get_by_role("img", name=prompt)).to_be_visible()
    go(page, "Studio")
    expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()


def test_erasure_with_no_grace_period_then_signing_in_is_a_new_empty_account(
    browser: Browser, erasing_stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, erasing_stack.base)
    tabs.append(tab)
    page = tab.page
    email = new_email("gone")
    sign_in(tab, email)
    onboard(tab)
    expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    headers = _headers(tab)
    uploaded = httpx.post(
        f"{erasing_stack.base}/v1/uploads",
        headers=headers,
        files={"file": ("cat.png", images.plain("PNG", (64, 64)), "image/png")},
        data={"purpose": "image"},
        timeout=180,  # the first upload of a stack loads the image classifier
    )
    assert uploaded.status_code == 201, uploaded.text
    old_id = httpx.get(f"{erasing_stack.base}/v1/me", headers=headers).json()["id"]

    _open_privacy(page)
    expect(page.get_by_text("erases it shortly", exact=False)).to_be_visible()
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("button", name="Yes, delete my account").click()
    expect(page.get_by_role("heading", name="Your account is scheduled for deletion")).to_be_visible()
    expect(
        page.get_by_text(f"It will be deleted on {_day(page, datetime.now().astimezone().isoformat())}.")
    ).to_be_visible()

    env = {**os.environ, "ATELIER_ENV": "local", "ATELIER_DATA_DIR": str(erasing_stack.data_dir)}
    env["DATABASE_URL"] = erasing_stack.database_url()
    run = subprocess.run(
        [sys.executable, "deploy.py", "task", "erase-accounts"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert httpx.get(f"{erasing_stack.base}/v1/me", headers=headers).status_code == 401  # the old token is void

    tab.allow_http(401)
    page.reload()
    expect(page.get_by_role("textbox", name="Email")).to_be_visible()  # signed out
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Date of birth")).to_be_visible()  # a new account starts with onboarding
    onboard(tab)
    expect(page.get_by_role("heading", name="What we hold about you")).to_be_visible()  # back where they were
    expect(page.get_by_role("list", name="Your exports")).to_contain_text("No exports yet.")
    fresh = _headers(tab)
    me = httpx.get(f"{erasing_stack.base}/v1/me", headers=fresh).json()
    assert me["id"] != old_id
    assert httpx.get(f"{erasing_stack.base}/v1/media", headers=fresh).json()["items"] == []
    assert _count(erasing_stack, "select count(*) as n from media where user_id = %s", old_id) == 0


def test_each_choice_switched_off_is_off_in_the_api_at_once(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "choose")
    prompt = f"a quiet harbour {new_email('x')[:8]}"
    create(tab, prompt)
    headers = _headers(tab)
    [item] = httpx.get(f"{stack.base}/v1/media", headers=headers).json()["items"]
    assert httpx.patch(f"{stack.base}/v1/media/{item['id']}", headers=headers, json={"public": True}).status_code == 200
    assert _in_gallery(stack, item["id"])
    event = {"feature": "privacy.test"}

    _open_privacy(page)
    labels = ("Show my images as examples", "Analytics", "Marketing emails", "Service improvement")
    fields = ("gallery_display", "analytics", "marketing_emails", "service_improvement")
    for name in labels[1:]:  # optional processing is off until chosen: turn it on first
        page.get_by_role("switch", name=name).check()
        expect(page.get_by_role("status").filter(has_text=f"{name}: on")).to_be_visible()
    # Images, not prompts; in the same words as the cookie banner's details and the privacy policy.
    expect(page.get_by_text("anonymised copies of the images generated for you help improve Atelier")).to_be_visible()
    assert httpx.post(f"{stack.base}/v1/analytics/events", headers=headers, json=event).json() == {"recorded": True}
    tab.check("privacy-choices-on")

    for name, field in zip(labels, fields, strict=True):
        page.get_by_role("switch", name=name).uncheck()
        expect(page.get_by_role("status").filter(has_text=f"{name}: off")).to_be_visible()
        assert httpx.get(f"{stack.base}/v1/me/preferences", headers=headers).json()[field] is False
    assert not _in_gallery(stack, item["id"])  # gone for an anonymous visitor at once
    visitor = new_tab(browser, stack.base)
    tabs.append(visitor)
    visitor.open("gallery")
    expect(visitor.page.get_by_role("heading", name="Gallery")).to_be_visible()
    expect(visitor.page.get_by_role("img", name=prompt)).to_have_count(0)
    assert httpx.post(f"{stack.base}/v1/analytics/events", headers=headers, json=event).json() == {"recorded": False}
    me = httpx.get(f"{stack.base}/v1/me", headers=headers).json()["id"]
    query = "select count(*) as n from analytics_events where user_id = %s and feature = 'privacy.test'"
    assert _count(stack, query, me) == 1  # only the one sent while analytics was on
    page.get_by_role("button", name="Change cookie choices on this device").click()
    expect(page.get_by_role("region", name="Cookie choices")).to_be_visible()
