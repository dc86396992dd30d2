"""Appealing a moderation decision in the browser: a takedown notice states its reasons and offers "Appeal", which
opens the support form linked to the decision; the operator restores it with `deploy.py moderation appeal-decide`,
and the person sees the outcome in Notices (the same text is queued as an email)."""

from __future__ import annotations

import io
import re
from uuid import UUID

import httpx
from PIL import Image
from playwright.sync_api import Browser, expect

from shared.kit.db import Database
from shared.media import service as media
from shared.media.storage import LocalStorage
from tests.browser.conftest import Stack, Tab, access_token, new_tab
from tests.browser.journeys import go, member
from tests.browser.operator import deploy

WAIT = 60_000  # generous: the machine running the suite is small and shared


def _output(stack: Stack, user_id: UUID) -> str:
    """A generated image of the person's, stored as the worker stores one."""
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 90, 160)).save(out, "PNG")
    db = Database(stack.database_url(), min_size=1, max_size=2).open()
    try:
        with db.transaction() as conn:
            item = media.store_output(
                conn, LocalStorage(stack.data_dir / "storage"), user_id=user_id, job_id=None, data=out.getvalue(),
                content_type="image/png", width=32, height=24, task="text_to_image", model="flux-schnell",
                prompt="a lighthouse",
            )  # fmt: skip
        return str(item.id)
    finally:
        db.close()


def _queued_mail(stack: Stack, user_id: UUID, template: str) -> int:
    db = Database(stack.database_url(), min_size=1, max_size=2).open()
    try:
        with db.transaction() as conn:
            row = conn.execute(
                "select count(*) as n from email_outbox where user_id = %s and template = %s", (user_id, template)
            ).fetchone()
        return int(row["n"]) if row else 0
    finally:
        db.close()


def test_a_takedown_is_appealed_from_notices_restored_and_the_outcome_shown(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "appeal")
    token = access_token(page)
    me = httpx.get(f"{stack.base}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    user_id = UUID(me["id"])
    media_id = _output(stack, user_id)
    reason = "Shows a trademarked logo (terms 5)."
    deploy(stack, "moderation", "takedown", media_id, "--reason", reason)

    nav = page.get_by_role("navigation", name="Main")
    go(page, "History")  # a page change reads the notice count again
    nav.get_by_role("link", name=re.compile("^Notices")).click()
    notice = page.get_by_role("listitem").filter(has_text="An image of yours was removed from the gallery")
    notice.get_by_text("An image of yours was removed from the gallery").click()
    expect(notice).to_contain_text(reason, timeout=WAIT)
    expect(notice).to_contain_text("Decided by: a person at Atelier")
    expect(notice.get_by_role("link", name="How decisions and appeals work")).to_be_visible()
    tab.check("appeal-notice")

    notice.get_by_role("link", name="Appeal", exact=True).click()
    expect(page.get_by_role("heading", name="Appeal a moderation decision")).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("textbox", name="Subject")).to_have_value("Appeal against a moderation decision")
    tab.check("appeal-form")
    page.get_by_role("textbox", name="Message").fill("The logo is my own company's; I hold the rights.")
    page.get_by_role("button", name="Send appeal").click()
    expect(page.get_by_role("heading", name="Appeal against a moderation decision", level=1)).to_be_visible(
        timeout=WAIT
    )
    ticket_id = page.evaluate("location.hash").rsplit("/", 1)[-1]

    listed = deploy(stack, "moderation", "appeals")
    assert ticket_id in listed
    note = "Confirmed: the logo belongs to you."
    assert "restored" in deploy(stack, "moderation", "appeal-decide", ticket_id, "--restore", "--note", note)

    nav.get_by_role("link", name=re.compile("^Notices")).click()
    outcome = page.get_by_role("listitem").filter(has_text="Your appeal was upheld")
    outcome.get_by_text("Your appeal was upheld").click()
    expect(outcome).to_contain_text(note, timeout=WAIT)
    expect(outcome).to_contain_text("may be published in the gallery again")
    took_down = page.get_by_role("listitem").filter(has_text="An image of yours was removed from the gallery")
    took_down.get_by_text("An image of yours was removed from the gallery").click()
    expect(took_down.get_by_role("link", name="See your appeal")).to_be_visible()
    tab.check("appeal-outcome")
    assert _queued_mail(stack, user_id, "appeal_decided") == 1

    page.goto(f"{stack.base}/#/policy/privacy#automated-decisions")
    heading = page.get_by_role("heading", name="Automated decisions")
    expect(heading).to_be_focused(timeout=WAIT)  # the link lands on the section
    expect(page.get_by_role("table").first).to_be_visible()
    tab.check("policy-automated-decisions")
