"""The journeys of the studio web app, end to end in Chromium against the local stack (see conftest.py)."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from shared.kit.db import Database
from shared.lifecycle.operator_grants import grant_adjustment
from shared.notify.policy_update import publish
from tests.browser.conftest import DESKTOP, Stack, Tab, access_token, new_tab
from tests.browser.journeys import create, dismiss_cookies, go, member, new_email, onboard, sign_in
from tests.conftest import SCREENSHOTS
from tests.support.loopback import Loopback


def _grant(stack: Stack, email: str, amount: int) -> None:
    """An operator's adjustment grant, as `deploy.py credits grant` makes it, on the stack's database."""
    db = Database(stack.database_url(), min_size=1, max_size=2).open()
    try:
        with db.transaction() as conn:
            grant_adjustment(conn, email=email, amount=amount, reason="browser test", ref=None, expires_at=None)
    finally:
        db.close()


def _token(tab: Tab) -> str:
    token: str = access_token(tab.page)
    return token


def test_before_signing_in_gallery_cookie_banner_and_policies(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    tab.open()
    expect(page.get_by_role("heading", name="Make and edit images from words")).to_be_visible()
    banner = page.get_by_role("region", name="Cookie choices")
    expect(banner.get_by_role("button", name="Accept all")).to_be_visible()
    expect(banner.get_by_role("button", name="Reject optional")).to_be_visible()
    banner.get_by_text("Choose categories").click()
    for name in ("Analytics", "Marketing"):
        expect(banner.get_by_role("switch", name=name)).not_to_be_checked()  # off until chosen
    # Service improvement is an account choice, not a cookie: said, never switched, here.
    expect(banner.get_by_role("switch", name="Service improvement")).to_have_count(0)
    expect(banner).to_contain_text("It is a choice in your account, separate from cookies.")
    expect(banner.get_by_role("checkbox", name="Essential (always on)")).to_be_checked()
    tab.check("gallery-with-banner")
    banner.get_by_role("button", name="Reject optional").click()
    expect(banner).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="cookie choices are saved")).to_be_visible()
    device = page.evaluate("localStorage.getItem('atelier.device')")
    recorded = httpx.get(f"{stack.base}/v1/consents/current", params={"device_id": device}).json()
    assert recorded["categories"] == {"analytics": False, "marketing": False, "service_improvement": False}
    assert recorded["recorded_at"] is not None
    page.reload()
    expect(page.get_by_role("heading", name="Make and edit images from words")).to_be_visible()
    expect(page.get_by_role("region", name="Cookie choices")).to_have_count(0)  # asked once per device

    page.get_by_role("link", name="Privacy policy").click()
    expect(page.get_by_role("heading", name="Privacy policy", level=1)).to_be_visible()
    tab.check("privacy-policy")
    page.get_by_role("link", name="Terms").click()
    expect(page.get_by_role("heading", name="Terms of service", level=1)).to_be_visible()
    tab.check("terms")
    # A section link lands on that section: the one a withheld image's "What this means" opens (web/js/jobs.js).
    tab.open("policy/privacy#automated-decisions")
    expect(page.get_by_role("heading", name="Privacy policy", level=1)).to_be_visible()
    section = page.get_by_role("heading", name="Automated decisions")
    expect(section).to_be_in_viewport()
    top = section.evaluate("(el) => el.getBoundingClientRect().top")
    header = page.get_by_role("banner").evaluate("(el) => el.getBoundingClientRect().bottom")
    assert header <= top < header + 64  # scrolled to, just below the sticky header


def test_a_browser_sending_gpc_is_honoured_and_told_so(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base, extra_http_headers={"Sec-GPC": "1"})
    tab.page.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    tabs.append(tab)
    tab.open("gallery")
    banner = tab.page.get_by_role("region", name="Cookie choices")
    expect(banner).to_contain_text("Global Privacy Control")
    banner.get_by_role("button", name="Accept all").click()
    expect(tab.page.get_by_role("status").filter(has_text="was honoured")).to_be_visible()
    device = tab.page.evaluate("localStorage.getItem('atelier.device')")
    recorded = httpx.get(
        f"{stack.base}/v1/consents/current", params={"device_id": device}, headers={"Sec-GPC": "1"}
    ).json()
    assert recorded["gpc"] is True
    assert recorded["categories"]["analytics"] is False
    assert recorded["categories"]["marketing"] is False


def test_the_banner_choice_is_tied_to_the_person_after_sign_in(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    tab.open("gallery")
    tab.page.get_by_role("region", name="Cookie choices").get_by_role("button", name="Accept all").click()
    expect(tab.page.get_by_role("region", name="Cookie choices")).to_be_hidden()
    go(tab.page, "Studio")
    tab.page.get_by_role("textbox", name="Email").fill(new_email("grace"))
    tab.page.get_by_role("button", name="Sign in").click()
    expect(tab.page.get_by_label("Date of birth")).to_be_visible()
    # Asked from another device with the person's token: the choice made before signing in is theirs now.
    mine = httpx.get(
        f"{stack.base}/v1/consents/current",
        params={"device_id": "another-device-123"},
        headers={"Authorization": f"Bearer {_token(tab)}"},
    ).json()
    # "Accept all" covered the cookie categories only: service improvement is asked on its own, in the account.
    assert mine["categories"] == {"analytics": True, "marketing": True, "service_improvement": False}


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_first_sign_in_then_create_download_and_see_the_seed(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    tab.open("studio")
    dismiss_cookies(tab)
    tab.check("sign-in")
    page.get_by_role("textbox", name="Email").fill(new_email("ada"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()
    tab.check("onboarding")
    onboard(tab)
    expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    page.get_by_role("textbox", name="Prompt").fill("a lighthouse on a cliff at dawn")
    expect(page.get_by_text("This costs 1 credit.")).to_be_visible()  # the cost before submitting
    tab.check("studio")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name="a lighthouse on a cliff at dawn")).to_be_visible(timeout=120_000)
    seed = page.get_by_text(re.compile(r"^Seed \d+"))
    expect(seed).to_be_visible()
    tab.check("studio-result")
    if viewport == "desktop":  # the picture on the front page: README.md shows docs/studio.png, a copy of this file
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(SCREENSHOTS / "readme-studio-1280x800.png"))
        page.set_viewport_size({"width": DESKTOP["width"], "height": DESKTOP["height"]})
    page.get_by_role("button", name="Reuse seed").click()
    expect(page.get_by_role("spinbutton", name="Seed")).to_have_value(re.compile(r"^\d+$"))
    expect(page.get_by_text("9 credits available")).to_be_visible()
    page.get_by_role("link", name="a lighthouse on a cliff at dawn").click()  # the image's own page
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename.startswith("atelier-a-lighthouse-on-a-cliff-at-")  # six words, then the id


def test_the_create_flow_with_the_keyboard_only(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "kim")
    page.get_by_role("textbox", name="Prompt").focus()
    page.keyboard.type("a quiet harbour, keyboard only")
    for _ in range(12):  # aspect ratio, images, seed, then Generate
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Generate":
            break
    assert page.evaluate("document.activeElement.textContent") == "Generate"
    page.keyboard.press("Enter")
    expect(page.get_by_role("article", name="a quiet harbour, keyboard only")).to_be_focused()  # the new card
    expect(page.get_by_role("img", name="a quiet harbour, keyboard only")).to_be_visible(timeout=120_000)
    page.keyboard.press("Tab")  # from the card to its image's page
    expect(page.get_by_role("link", name="a quiet harbour, keyboard only")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your image", level=1)).to_be_visible(timeout=20_000)


def test_under_13_is_told_plainly_and_nothing_is_kept(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    sign_in(tab, new_email("young"))
    today = date.today()
    onboard(tab, born=date(today.year - 10, 1, 1))
    expect(tab.page.get_by_role("heading", name=re.compile("13 and older"))).to_be_visible()
    expect(tab.page.get_by_role("alert")).to_contain_text("Nothing about you has been kept")
    tab.check("under-13")
    expect(tab.page.get_by_role("link", name="Sign in")).to_be_visible()  # signed out
    for _ in range(50):  # the page ends its session (its cookie) as it signs out
        if not [c for c in tab.page.context.cookies() if c["name"] == "atelier_session"]:
            break
        tab.page.wait_for_timeout(100)
    assert not [c for c in tab.page.context.cookies() if c["name"] == "atelier_session"]


def test_a_material_policy_change_is_accepted_before_anything_else(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    member(tab, "lin")
    db = Database(stack.database_url(), min_size=1, max_size=2).open()
    try:
        publish(db, f"# Privacy policy\n\nWe added a processor ({new_email('v')}).\n", kind="privacy", material=True)
    finally:
        db.close()
    tab.page.reload()
    expect(tab.page.get_by_role("heading", name="We updated our policies")).to_be_visible()
    expect(tab.page.get_by_text("We added a processor")).to_be_visible()
    tab.check("policy-change")
    tab.page.get_by_role("button", name="Accept and continue").click()
    expect(tab.page.get_by_role("textbox", name="Prompt")).to_be_visible()


def test_a_running_job_shows_progress_and_can_be_canceled(browser: Browser, idle_stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, idle_stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "cancel")
    page.get_by_role("textbox", name="Prompt").fill("a job that waits")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("article", name="a job that waits").get_by_role("progressbar")).to_be_visible()
    tab.check("studio-progress")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("progressbar")).to_have_count(0)
    expect(page.get_by_text("nothing was charged")).to_be_visible()
    expect(page.get_by_text("10 credits available")).to_be_visible()


def test_too_few_credits_offers_credits(browser: Browser, idle_stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, idle_stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "broke")
    for n in range(3):  # queued jobs hold 4 credits each: 10 → 6 → 2 → Generate waits
        page.get_by_role("textbox", name="Prompt").fill(f"four at once {n}")
        page.get_by_label("Images").select_option("4")
        if n < 2:
            page.get_by_role("button", name="Generate").click()
            expect(page.get_by_role("article", name=f"four at once {n}").get_by_role("progressbar")).to_be_visible()
            page.reload()
            expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    expect(page.get_by_role("button", name="Generate")).to_be_disabled()
    expect(page.get_by_role("alert")).to_contain_text("You don't have enough credits")
    page.get_by_role("alert").get_by_role("link", name="Buy credits").click()
    expect(page.get_by_role("heading", name="Credits", level=1)).to_be_visible()


def test_history_thumbnails_gallery_switch_and_delete(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "hist")
    prompt = f"a brass orrery {new_email('x')[:8]}"
    create(tab, prompt)
    go(page, "History")
    tile = page.get_by_role("listitem").filter(has=page.get_by_role("img", name=prompt))
    expect(tile).to_have_count(1)
    thumbnail = tile.get_by_role("img", name=prompt).get_attribute("src") or ""
    assert "/v1/files/" in thumbnail
    assert httpx.get(thumbnail).headers["content-type"] == "image/webp"
    tab.check("history")
    tile.get_by_role("switch", name="Show in gallery").check()
    expect(page.get_by_role("status").filter(has_text="Shown in the gallery")).to_be_visible()

    visitor = new_tab(browser, stack.base)
    tabs.append(visitor)
    visitor.open("gallery")
    dismiss_cookies(visitor)
    expect(visitor.page.get_by_role("img", name=prompt)).to_be_visible()
    visitor.check("gallery")

    tile.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete this image?").get_by_role("button", name="Delete image").click()  # asks
    expect(page.get_by_role("img", name=prompt)).to_have_count(0)  # gone at once
    visitor.page.reload()
    expect(visitor.page.get_by_role("heading", name="Gallery")).to_be_visible()
    expect(visitor.page.get_by_role("img", name=prompt)).to_have_count(0)


def test_credits_balance_grants_ledger_checkout_and_portal(
    browser: Browser, stack: Stack, polar_server: Loopback, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base, "mobile")
    tabs.append(tab)
    page = tab.page
    # Polar's hosted checkout and portal pages, at their HTTP boundary (the network is closed here).
    page.route("https://polar.example/**", lambda route: route.fulfill(body="<title>Polar</title>Polar checkout"))
    member(tab, "cred")
    go(page, "Credits")
    expect(page.get_by_text("10 credits available")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Welcome credits: 10 of 10 left · expires"))).to_be_visible()
    expect(page.get_by_role("cell", name="Added")).to_be_visible()
    expect(page.get_by_text("$5.00")).to_be_visible()  # prices from the catalogue
    tab.check("credits")
    me = httpx.get(f"{stack.base}/v1/me", headers={"Authorization": f"Bearer {_token(tab)}"}).json()
    page.get_by_role("button", name="Buy Starter pack").click()
    page.wait_for_url("https://polar.example/checkout/**")
    sent = [json.loads(r.body) for r in polar_server.requests if r.path.startswith("/v1/checkouts/")]
    assert me["id"] in [c["external_customer_id"] for c in sent]  # Polar knows the account id, never the email
    assert me["email"] not in json.dumps(sent)
    page.go_back()
    page.get_by_role("button", name="Invoices and subscriptions").click()
    page.wait_for_url("https://polar.example/portal/**")


def test_checkout_without_billing_says_what_is_down(browser: Browser, idle_stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, idle_stack.base)
    tabs.append(tab)
    tab.allow_http(503)
    member(tab, "nobill")
    go(tab.page, "Credits")
    tab.page.get_by_role("button", name="Subscribe to Monthly creator").click()
    expect(tab.page.get_by_role("alert")).to_contain_text("Buying credits is not available on this server")


def test_the_other_four_tasks_edit_inpaint_upscale_describe(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    email = member(tab, "tasks")
    _grant(stack, email, 100)  # edit and inpaint cost more than the welcome credits
    create(tab, "a red fox in snow")

    page.get_by_role("button", name="Use as input").first.click()  # → Edit with the result as input
    expect(page.get_by_role("radio", name="Edit")).to_be_checked()
    page.get_by_role("textbox", name="Prompt").fill("make it night")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name="make it night")).to_be_visible(timeout=120_000)

    page.get_by_role("radio", name="Inpaint").check()
    canvas = page.get_by_role("img", name="Mask painting area")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, steps=8)
    page.mouse.up()
    tab.check("studio-inpaint")
    page.get_by_role("textbox", name="Prompt").fill("a lantern")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name="a lantern")).to_be_visible(timeout=120_000)

    page.get_by_role("radio", name="Upscale").check()
    expect(page.get_by_text(re.compile(r"This costs \d+ credits?"))).to_be_visible()
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name="Upscaled image")).to_be_visible(timeout=120_000)
    upscaled = page.get_by_role("article", name="Upscaled image")
    expect(upscaled.get_by_text(re.compile(r"^Done"))).to_be_visible()
    expect(upscaled.get_by_text(re.compile("Seed"))).to_have_count(0)  # a seed means nothing for an upscale
    expect(upscaled.get_by_role("button", name="Reuse seed")).to_have_count(0)

    page.get_by_role("radio", name="Describe").check()
    page.get_by_role("button", name="Generate").click()
    reuse = page.get_by_role("button", name="Use this prompt")
    expect(reuse).to_be_visible(timeout=120_000)
    described = page.get_by_role("blockquote").first.inner_text()
    reuse.click()
    expect(page.get_by_role("radio", name="Create")).to_be_checked()
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(described)


def test_too_many_requests_says_when_to_try_again(browser: Browser, idle_stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, idle_stack.base)
    tabs.append(tab)
    tab.allow_http(429)
    page = tab.page
    member(tab, "fast")
    alert = page.get_by_role("alert")
    too_fast = alert.filter(has_text="a little fast")
    # The idle stack allows 3 jobs per account in any ten minutes (an exact sliding window): the first three are
    # accepted, the fourth is refused, and its Retry-After is far longer than the client ever waits out quietly.
    for n in range(4):
        page.get_by_role("textbox", name="Prompt").fill(f"one more {n}")
        page.get_by_role("button", name="Generate").click()
        # A 429 near a window's end carries a short Retry-After that the client waits out quietly before retrying.
        card = page.get_by_role("article", name=f"one more {n}")
        expect(card.or_(too_fast)).to_be_visible(timeout=30_000)
        if too_fast.is_visible():
            break
        page.reload()
        expect(page.get_by_role("textbox", name="Prompt")).to_be_visible()
    expect(alert).to_contain_text("a little fast")
    expect(alert).to_contain_text(re.compile(r"try again in \d+ seconds"))
    expect(page.get_by_role("button", name="Generate")).to_be_disabled()


def test_privacy_choices_and_the_gallery_preference(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base, "mobile")
    tabs.append(tab)
    page = tab.page
    member(tab, "priv")
    go(page, "Privacy")
    analytics = page.get_by_role("switch", name="Analytics")
    expect(analytics).not_to_be_checked()  # off until chosen
    expect(page.get_by_role("switch", name="Show my images as examples")).to_be_checked()
    tab.check("privacy")
    analytics.check()
    expect(page.get_by_role("status").filter(has_text="Analytics: on")).to_be_visible()
    headers = {"Authorization": f"Bearer {_token(tab)}"}
    assert httpx.get(f"{stack.base}/v1/me/preferences", headers=headers).json()["analytics"] is True

    go(page, "Gallery")
    gallery_switch = page.get_by_role("switch", name="Show my images as examples")
    expect(gallery_switch).to_be_checked()
    gallery_switch.uncheck()
    expect(page.get_by_role("status").filter(has_text="None of your images")).to_be_visible()
    assert httpx.get(f"{stack.base}/v1/me/preferences", headers=headers).json()["gallery_display"] is False


def test_inpainting_by_touch_on_a_phone(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base, "mobile")
    tabs.append(tab)
    page = tab.page
    email = member(tab, "touch")
    _grant(stack, email, 20)
    create(tab, "a field of poppies")
    page.get_by_role("button", name="Use as input").first.click()
    page.get_by_role("radio", name="Inpaint").check()
    canvas = page.get_by_role("img", name="Mask painting area")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a finger paints
    page.get_by_role("textbox", name="Prompt").fill("a scarecrow")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("img", name="a scarecrow")).to_be_visible(timeout=120_000)
    tab.check("studio-inpaint-touch")


def test_history_pages_as_you_scroll(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "scroll")
    headers = {"Authorization": f"Bearer {_token(tab)}"}
    for n in range(26):  # more than one page (24) of uploads
        image = io.BytesIO()
        Image.new("RGB", (64, 48), (n * 9, 90, 160)).save(image, "PNG")
        files = {"file": (f"u{n}.png", image.getvalue(), "image/png")}
        assert httpx.post(f"{stack.base}/v1/uploads", headers=headers, files=files).status_code == 201
    go(page, "History")
    tiles = page.get_by_role("list", name="Your images").get_by_role("listitem")
    expect(tiles).to_have_count(24)
    page.get_by_role("contentinfo").scroll_into_view_if_needed()  # reaching the end loads the next page
    expect(tiles).to_have_count(26)
