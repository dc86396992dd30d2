"""Notices in the browser: a notice counted in the navigation and marked seen when opened; a material policy
change published with `deploy.py policy publish` noticed, and blocking the studio until accepted."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Browser, expect

from shared.kit.db import Database
from shared.trust.notices import notify
from tests.browser.conftest import Stack, Tab, access_token, new_tab
from tests.browser.journeys import go, member, open_menu
from tests.browser.operator import deploy


def _api(stack: Stack, tab: Tab, method: str, path: str, **kwargs: Any) -> httpx.Response:
    token = access_token(tab.page)
    return httpx.request(
        method, f"{stack.base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs
    )


def _notify(stack: Stack, user_id: UUID, title: str) -> None:
    """A moderation notice, as the takedown service writes one, on the stack's database."""
    db = Database(stack.database_url(), min_size=1, max_size=2).open()
    try:
        with db.transaction() as conn:
            notify(conn, user_id, kind="content_takedown", title=title, body="An image of yours was removed.")
    finally:
        db.close()


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_notice_is_counted_shown_and_marked_seen_when_opened(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    member(tab, "notice")
    nav = page.get_by_role("navigation", name="Main")
    open_menu(page)  # phones: folded into "Menu"
    expect(nav.get_by_role("link", name="Notices", exact=True)).to_be_visible()  # nothing unseen: no count
    width = page.viewport_size["width"] if page.viewport_size else 0
    for link in nav.get_by_role("link").all():  # every entry in sight at once, none scrolled off sideways
        box = link.bounding_box()
        assert box is not None, link.inner_text()
        assert box["x"] >= 0, link.inner_text()
        assert box["x"] + box["width"] <= width, link.inner_text()
    me = _api(stack, tab, "GET", "/v1/me").json()
    title = f"We removed an image {uuid.uuid4().hex[:6]}"
    _notify(stack, UUID(me["id"]), title)

    go(page, "History")  # any page change reads the count again
    open_menu(page)
    expect(nav.get_by_role("link", name="Notices 1 new")).to_be_visible()
    go(page, re.compile("^Notices"), exact=False)
    expect(page.get_by_role("heading", name="Notices", level=1)).to_be_visible()
    notice = page.get_by_role("listitem").filter(has_text=title)
    expect(notice.get_by_text("New", exact=True)).to_be_visible()
    tab.check("notices")
    listed = _api(stack, tab, "GET", "/v1/me/notifications").json()["items"]
    assert [n["seen_at"] for n in listed if n["title"] == title] == [None]  # shown is not yet opened

    notice.get_by_text(title).click()
    expect(notice.get_by_text("An image of yours was removed.")).to_be_visible()
    expect(notice.get_by_text("New", exact=True)).to_have_count(0)
    open_menu(page)
    expect(nav.get_by_role("link", name="Notices", exact=True)).to_be_visible()
    listed = _api(stack, tab, "GET", "/v1/me/notifications").json()["items"]
    (seen,) = [n["seen_at"] for n in listed if n["title"] == title]
    assert seen is not None
    tab.check("notice-opened")


def test_a_material_policy_publish_is_noticed_and_blocks_the_studio_until_accepted(
    browser: Browser, stack: Stack, tabs: list[Tab], tmp_path: Path
) -> None:
    tab = new_tab(browser, stack.base)
    tab.allow_http(428)
    tabs.append(tab)
    page = tab.page
    member(tab, "policy")
    change = f"a new processor for image storage ({uuid.uuid4().hex[:6]})"
    text = tmp_path / "privacy.md"
    text.write_text(f"# Privacy policy\n\nWe added {change}.\n", encoding="utf-8")
    printed = deploy(stack, "policy", "publish", str(text), "--kind", "privacy", "--material")
    assert "material=True" in printed

    # The page was open before the change: the next thing the person does is answered 428, and the change
    # is shown instead of the studio.
    page.get_by_role("textbox", name="Prompt").fill("a lighthouse at dusk")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("heading", name="We updated our policies")).to_be_visible()
    expect(page.get_by_text(f"We added {change}.")).to_be_visible()
    assert _api(stack, tab, "POST", "/v1/jobs", json={"task": "text_to_image", "prompt": "x"}).status_code == 428
    tab.check("policy-blocked")

    # Blocked everywhere in the studio, not only on the page that met the 428; the notice is counted.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Notices 1 new")).to_be_visible()
    for name in ("Studio", "History"):
        nav.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name="We updated our policies")).to_be_visible()
        expect(page.get_by_role("textbox", name="Prompt")).to_have_count(0)
    # Not blocked: exporting or deleting one's data instead (the page's own link), and asking us about the change.
    page.get_by_role("link", name="Export or delete your data").click()
    expect(page.get_by_role("heading", name="Privacy", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Download my data")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text=re.compile(r"\S"))).to_have_count(0)  # every section loaded
    tab.check("privacy-while-policy-pending")
    go(page, "Support")
    expect(page.get_by_role("heading", name="Support", level=1)).to_be_visible()
    go(page, "History")
    page.reload()
    expect(page.get_by_role("heading", name="We updated our policies")).to_be_visible()

    page.get_by_role("button", name="Accept and continue").click()
    expect(page.get_by_role("heading", name="History", level=1)).to_be_visible()  # back where the person was
    go(page, "Studio")
    expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    go(page, re.compile("^Notices"), exact=False)
    notice = page.get_by_role("listitem").filter(has_text="We updated our privacy policy")
    notice.get_by_text("We updated our privacy policy").click()
    expect(notice).to_contain_text("Please review and accept it")
    expect(nav.get_by_role("link", name="Notices", exact=True)).to_be_visible()
    assert _api(stack, tab, "GET", "/v1/me").json()["policies_to_accept"] == []
