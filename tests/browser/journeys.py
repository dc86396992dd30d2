"""Steps shared by the browser journeys, written the way a person acts: by role and accessible name."""

from __future__ import annotations

import re
import uuid
from datetime import date

from playwright.sync_api import Page, expect

from tests.browser.conftest import Tab


def open_menu(page: Page) -> None:
    """Unfold the main navigation where it is folded into the "Menu" button (phones); nothing on wide screens."""
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible() and menu.get_attribute("aria-expanded") != "true":
        menu.click()


def go(page: Page, name: str | re.Pattern[str], *, exact: bool = True) -> None:
    """Follow a link of the main navigation, opening the "Menu" first where it is folded (phones)."""
    open_menu(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=exact).click()


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def dismiss_cookies(tab: Tab) -> None:
    """Reject optional cookies and wait until the choice is saved (the banner goes); the answer also shows the status
    line, in its own reserved slot under the header, so nothing on the page moves."""
    banner = tab.page.get_by_role("region", name="Cookie choices")
    banner.get_by_role("button", name="Reject optional").click()
    expect(banner).to_be_hidden()


def sign_in(tab: Tab, email: str) -> None:
    tab.open("studio")
    dismiss_cookies(tab)
    tab.page.get_by_role("textbox", name="Email").fill(email)
    tab.page.get_by_role("button", name="Sign in").click()


def onboard(tab: Tab, born: date = date(1990, 5, 17)) -> None:
    page = tab.page
    page.get_by_label("Date of birth").fill(born.isoformat())
    page.get_by_role("checkbox", name="I accept the privacy policy and terms").check()
    page.get_by_role("button", name="Continue").click()


def member(tab: Tab, tag: str = "ada") -> str:
    """Sign in as a new person and finish onboarding; lands in the studio."""
    email = new_email(tag)
    sign_in(tab, email)
    onboard(tab)
    expect(tab.page.get_by_role("textbox", name="Prompt")).to_be_visible()
    return email


def create(tab: Tab, prompt: str, *, count: int = 1) -> None:
    """Text to image in the studio; waits for the result images."""
    page = tab.page
    page.get_by_role("textbox", name="Prompt").fill(prompt)
    if count != 1:
        page.get_by_label("Images").select_option(str(count))
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name=prompt).first).to_be_visible(timeout=120_000)
    expect(page.get_by_role("img", name=prompt)).to_have_count(count)
