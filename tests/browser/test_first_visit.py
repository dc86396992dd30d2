"""The pages around the Studio, as a new person meets them (issue 29): the start page, pricing, page not found,
the phone header, cookie settings, the gallery's Report and Try this prompt, the history's search, filter and
selection, plain words, and what a new user hit (the status line, the contact reference, staff Markdown, the
export's file name, a locked account's gallery, the under-13 page)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FloatRect, Locator, Page, expect

from shared.trust.reports import REASONS
from tests.browser.conftest import Stack, Tab, access_token, new_tab
from tests.browser.journeys import create, dismiss_cookies, go, member, new_email, onboard, open_menu, sign_in
from tests.browser.operator import deploy
from tests.conftest import SCREENSHOTS

SLOW = 60_000  # a loaded 2-core machine: generous explicit waits


def _token(tab: Tab) -> str:
    token: str = access_token(tab.page)
    return token


def _headers(tab: Tab) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(tab)}"}


def _overlaps(a: FloatRect | None, b: FloatRect | None) -> bool:
    if a is None or b is None:
        return False
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def _covers_nothing(page: Page, box: Locator) -> None:
    """The status line lies over no link, button or form field (of the page, its header or its footer)."""
    shown = box.bounding_box()
    controls = "header a, header button, main a, main button, main input, main textarea, main select, footer a"
    for control in page.locator(controls).all():
        if control.is_visible():
            assert not _overlaps(shown, control.bounding_box()), control.evaluate("e => e.outerHTML.slice(0, 80)")


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_first_visit_lands_on_what_atelier_is_with_pricing_and_a_page_not_found(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    tab.open()
    expect(page.get_by_role("heading", name="Make and edit images from words", level=1)).to_be_visible()
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="Get started")).to_be_visible()
    expect(main.get_by_role("link", name="Pricing")).to_be_visible()
    expect(main.get_by_role("link", name="Privacy")).to_be_visible()
    # Examples from the gallery, or (nothing published yet on this stack) example prompts to try.
    examples = main.get_by_role("list", name=re.compile("^Example"))
    expect(examples).to_be_visible()
    assert not any("/v1/analytics" in url or "/v1/me" in url for url in asked)  # nothing optional, no account
    tab.check("start")

    # The cookie choice is confirmed in the status line, which covers nothing and goes away.
    dismiss_cookies(tab)
    saved = page.get_by_role("status").filter(has_text="Your cookie choices are saved.")
    expect(saved).to_be_visible()
    _covers_nothing(page, saved)
    expect(saved).to_have_count(0, timeout=15_000)

    main.get_by_role("link", name="Pricing").click()
    expect(page.get_by_role("heading", name="Pricing", level=1)).to_be_visible()
    products = httpx.get(f"{stack.base}/v1/billing/products").json()["items"]
    for product in products:  # the catalogue checkout uses, with prices
        expect(page.get_by_role("heading", name=product["name"])).to_be_visible()
    expect(page.get_by_text("$5.00")).to_be_visible()
    per_task = page.get_by_role("table", name="Credits per task")
    expect(per_task.get_by_role("row").filter(has_text="Create an image from words")).to_contain_text("credit")
    tab.check("pricing")

    page.goto(f"{stack.base}/#/no-such-page")
    expect(page.get_by_role("heading", name="Page not found", level=1)).to_be_visible()
    expect(page.get_by_role("textbox", name="Prompt")).to_have_count(0)
    tab.check("not-found")

    header = page.get_by_role("banner").bounding_box()
    assert header is not None
    if viewport == "mobile":  # the navigation folds into "Menu": one row, not 134 px
        assert header["height"] <= 72, header
        menu = page.get_by_role("button", name="Menu")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery")).to_be_hidden()
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        tab.check("menu-open")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery").click()
        expect(page.get_by_role("heading", name="Gallery", level=1)).to_be_visible()
        expect(menu).to_have_attribute("aria-expanded", "false")  # closed on arrival
    else:
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()


def test_cookie_settings_close_with_a_button_or_esc_and_accept_all_is_cookies_only(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    tab.open("gallery")
    banner = page.get_by_role("region", name="Cookie choices")
    banner.get_by_role("button", name="Accept all").click()
    expect(banner).to_be_hidden()
    device = page.evaluate("localStorage.getItem('atelier.device')")
    recorded = httpx.get(f"{stack.base}/v1/consents/current", params={"device_id": device}).json()
    assert recorded["requested"] == {"analytics": True, "marketing": True}  # nothing about the person's images

    settings = page.get_by_role("button", name="Cookie settings")
    settings.click()
    expect(banner).to_be_visible()
    expect(banner.get_by_role("switch", name="Analytics")).to_be_checked()
    expect(banner).to_contain_text(
        "Service improvement: anonymised copies of the images generated for you help improve Atelier. "
        "It is a choice in your account, separate from cookies."
    )
    tab.check("cookie-settings")
    page.keyboard.press("Escape")
    expect(banner).to_be_hidden()
    expect(settings).to_be_focused()  # back where the person was
    settings.click()
    banner.get_by_role("button", name="Close").click()
    expect(banner).to_be_hidden()

    # The same words in the privacy policy.
    page.get_by_role("link", name="Privacy policy").click()
    expect(page.get_by_role("heading", name="Privacy policy", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(
        "Service improvement: anonymised copies of the images generated for you help improve Atelier. "
        "It is a choice in your account, separate from cookies."
    )


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_gallery_report_and_try_this_prompt(browser: Browser, stack: Stack, tabs: list[Tab], viewport: str) -> None:
    maker = new_tab(browser, stack.base)
    tabs.append(maker)
    member(maker, "maker")
    prompt = f"a glass greenhouse {new_email('x')[:8]}"
    create(maker, prompt)
    mine = httpx.get(f"{stack.base}/v1/media", params={"q": prompt}, headers=_headers(maker)).json()["items"]
    assert [m["prompt"] for m in mine] == [prompt]  # found by its prompt words
    published = httpx.patch(f"{stack.base}/v1/media/{mine[0]['id']}", json={"public": True}, headers=_headers(maker))
    assert published.status_code == 200, published.text

    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    tab.open("gallery")
    dismiss_cookies(tab)
    tile = page.get_by_role("listitem").filter(has=page.get_by_role("img", name=prompt))
    expect(tile).to_have_count(1)
    expect(tile.get_by_role("link", name=prompt)).to_have_attribute("href", f"#/image/{mine[0]['id']}")
    tile.get_by_role("button", name="Report").click()
    dialog = page.get_by_role("dialog", name="Report this image")
    expect(dialog).to_be_visible()
    reasons = dialog.get_by_label("What is wrong?").locator("option").all_inner_texts()
    assert "Copies someone's work (copyright)" in reasons
    assert len(reasons) == len(REASONS) + 1  # every reason the API takes, and "Choose a reason"
    expect(dialog).to_contain_text("A person on our team reviews every report")
    tab.check("report-dialog")
    if viewport == "mobile":  # the address's report budget is the stack's, spent once (on desktop)
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
    else:
        dialog.get_by_label("What is wrong?").select_option("copyright")
        dialog.get_by_role("button", name="Send report").click()
        expect(dialog.get_by_role("status")).to_contain_text("Your report was received")
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_be_hidden()
        # The per-address budget met: the answer in words, not a code.
        tab.allow_http(429)
        for _ in range(12):
            httpx.post(f"{stack.base}/v1/gallery/{mine[0]['id']}/report", json={"reason": "spam"})
        tile.get_by_role("button", name="Report").click()
        dialog.get_by_label("What is wrong?").select_option("spam")
        dialog.get_by_role("button", name="Send report").click()
        expect(dialog.get_by_role("alert")).to_contain_text("You have sent many reports in a short time")
        page.keyboard.press("Escape")

    # Try this prompt: the Studio's Create with it (after signing in, for a visitor).
    tile.get_by_role("link", name="Try this prompt").click()
    page.get_by_role("textbox", name="Email").fill(new_email("try"))
    page.get_by_role("button", name="Sign in").click()
    onboard(tab)
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(prompt, timeout=SLOW)
    expect(page.get_by_role("radio", name="Create")).to_be_checked()


def test_history_search_filter_select_and_delete_after_asking(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "history")
    word = new_email("w")[2:10]
    fox, owl = f"a red fox {word}", f"a snowy owl {word}"
    create(tab, fox)
    create(tab, owl)
    image = httpx.get(f"{stack.base}/v1/media", headers=_headers(tab)).json()["items"][0]
    upload = httpx.post(
        f"{stack.base}/v1/uploads",
        headers=_headers(tab),
        files={"file": ("u.png", httpx.get(image["url"]).content, image["content_type"])},
    )
    assert upload.status_code == 201, upload.text
    go(page, "History")
    tiles = page.get_by_role("list", name="Your images").get_by_role("listitem")
    expect(tiles).to_have_count(3)
    search = page.get_by_role("searchbox", name="Search your images")
    search.fill("snowy")
    expect(tiles).to_have_count(1)
    expect(tiles.first.get_by_role("img", name=owl)).to_be_visible()
    search.fill("")
    expect(tiles).to_have_count(3)
    # What the filter offers comes from GET /v1/studio: every task that makes images, variations included.
    choices = ["Everything", "Created", "Edited", "Inpainted", "Upscaled", "Variations", "Uploads"]
    expect(page.get_by_role("combobox", name="Show").get_by_role("option")).to_have_text(choices)
    expect(tiles.filter(has=page.get_by_role("img", name=owl)).get_by_text("Created", exact=True)).to_be_visible()
    page.get_by_role("combobox", name="Show").select_option(label="Uploads")
    expect(tiles).to_have_count(1)
    page.get_by_role("combobox", name="Show").select_option(label="Created")
    expect(tiles).to_have_count(2)
    tab.check("history-filtered")

    for name in (fox, owl):
        page.get_by_role("checkbox", name=f"Select {name}").check()
    expect(page.get_by_text("2 images selected")).to_be_visible()
    with page.expect_download() as first:
        page.get_by_role("button", name="Download selected").click()
    assert re.fullmatch(r"atelier-[0-9a-f-]{36}\.(png|webp|jpeg)", first.value.suggested_filename)
    page.get_by_role("button", name="Delete selected").click()
    ask = page.get_by_role("dialog", name="Delete 2 images?")
    expect(ask).to_be_visible()
    tab.check("history-delete-asks")
    ask.get_by_role("button", name="Keep").click()
    expect(tiles).to_have_count(2)  # nothing deleted without a yes
    page.get_by_role("button", name="Delete selected").click()
    ask.get_by_role("button", name="Delete 2 images").click()
    expect(tiles).to_have_count(0)
    left = httpx.get(f"{stack.base}/v1/media", headers=_headers(tab)).json()["items"]
    assert [m["kind"] for m in left] == ["upload"]


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_contact_reference_staff_markdown_and_status_line_on_forms(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    tab.open("contact")
    dismiss_cookies(tab)
    page.get_by_role("textbox", name="Your email").fill(new_email("vera"))
    page.get_by_role("textbox", name="Message").fill("Do you invoice companies?")
    page.get_by_role("button", name="Send message").click()
    reference = page.locator("strong.reference")
    expect(page.get_by_role("heading", name="Message sent")).to_be_visible()
    assert re.fullmatch(r"[A-Z2-7]{8}", reference.inner_text()), reference.inner_text()  # quotable, not a UUID

    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    member(tab, "md")
    header = page.get_by_role("banner").bounding_box()
    assert header is not None
    assert viewport == "desktop" or header["height"] <= 72, header  # signed in, still one row on a phone
    go(page, "Support")
    page.get_by_role("textbox", name="Subject").fill("Invoices")
    page.get_by_role("textbox", name="Message").fill("Can I get an invoice?")
    page.get_by_role("button", name="Send ticket").click()
    expect(page.get_by_role("heading", name="Invoices", level=1)).to_be_visible()
    ticket = page.url.rsplit("/", 1)[1]
    answer = "Yes: **every purchase** has one.\n\n- open [the portal](https://polar.example/portal)\n- download it"
    path = stack.data_dir.parent / f"reply-{ticket}.md"
    path.write_text(answer, encoding="utf-8")
    deploy(stack, "support", "reply", ticket, "--file", str(path))
    page.reload()
    staff = page.get_by_role("list", name="Conversation").get_by_role("listitem").filter(has_text="Atelier support")
    expect(staff.locator("strong", has_text="every purchase")).to_be_visible()
    expect(staff.get_by_role("link", name="the portal")).to_have_attribute("href", "https://polar.example/portal")
    expect(staff).not_to_contain_text("**")
    tab.check("staff-markdown")
    page.get_by_role("textbox", name="Your reply").fill("Thank you!")
    page.get_by_role("button", name="Send reply").click()
    sent = page.get_by_role("status").filter(has_text="Reply sent.")
    expect(sent).to_be_visible()
    _covers_nothing(page, sent)


def test_the_export_downloads_as_a_dated_zip(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "zip")
    go(page, "Privacy")
    page.get_by_role("button", name="Download my data").click()
    link = page.get_by_role("link", name="Download archive")
    expect(link).to_be_visible(timeout=SLOW)
    with page.expect_download() as saved:
        link.click()
    assert re.fullmatch(r"atelier-export-\d{4}-\d{2}-\d{2}\.zip", saved.value.suggested_filename)


def test_a_locked_accounts_gallery_asks_for_no_choices_and_under_13_then_studio_signs_in(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "locked")
    assert httpx.delete(f"{stack.base}/v1/me", headers=_headers(tab)).status_code == 202
    # A fresh load: the page still open from before the deletion rightly thinks the account is open, and a gallery
    # it rendered then may ask for the choices (and get the 403) just before a reload cancels it (failed once in CI).
    page.goto("about:blank")
    answers: list[Any] = []
    page.on("response", lambda response: answers.append((response.url, response.status)))
    page.goto(f"{stack.base}/#/gallery")
    expect(page.get_by_role("heading", name="Gallery", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # signed in again from the cookie
    page.wait_for_load_state("networkidle")
    assert [a for a in answers if "/v1/me/preferences" in a[0]] == []  # not asked for, so no 403
    assert [a for a in answers if a[0].endswith("/v1/me")] == [(f"{stack.base}/v1/me", 200)]  # but /v1/me was

    child = new_tab(browser, stack.base)
    tabs.append(child)
    sign_in(child, new_email("kid"))
    onboard(child, born=date(date.today().year - 9, 1, 1))
    expect(child.page.get_by_role("heading", name="Sorry, Atelier is for people 13 and older")).to_be_visible()
    go(child.page, "Studio")  # the page already in the address bar: shown afresh, not nothing
    expect(child.page.get_by_role("heading", name="Sign in to Atelier")).to_be_visible()
    open_menu(child.page)


# The longest words the app puts in the status line (the Studio's variations hint), and the longest a job that ended
# elsewhere brings, with its link (shown 12 s): two lines each on a phone.
_LONGEST_NOTICE = "Variations of this image: choose a strength and how many, then Generate."
_JOB_FAILED = "A job failed; its credits were returned."


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_the_status_line_moves_nothing_when_it_comes_and_goes(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    """A message appears and goes at moments the person does not choose (a job that ended, a saved choice): a press
    across that moment must land on the control it began on, so nothing on the page may move, nor be covered."""
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    tab.open()
    control = page.get_by_role("main").get_by_role("link", name="Get started")
    expect(control).to_be_visible()
    header = page.get_by_role("banner")
    before = (control.bounding_box(), header.bounding_box())

    dismiss_cookies(tab)
    saved = page.get_by_role("status").filter(has_text="Your cookie choices are saved.")
    expect(saved).to_be_visible()
    shown = (control.bounding_box(), header.bounding_box())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"status-line-{viewport}.png"))  # at once: the line goes after 6 s
    _covers_nothing(page, saved)
    assert shown == before, "the status line moved the page as it appeared"
    expect(saved).to_have_count(0, timeout=15_000)
    assert (control.bounding_box(), header.bounding_box()) == before, "the page moved as the status line went"

    # The longest messages, shown the way the views show one (wrapping on a phone), move and cover nothing either;
    # the job's link reads well on the line (axe: its contrast).
    show = "async ([words, link]) => (await import('/js/notice.js')).notify(words, link)"
    for name, words, link in (
        ("long", _LONGEST_NOTICE, None),
        ("job", _JOB_FAILED, {"href": "#/studio", "label": "Open the Studio"}),
    ):
        page.evaluate(show, [words, link])
        message = page.get_by_role("status").filter(has_text=words)
        expect(message).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"status-line-{name}-{viewport}.png"))
        _covers_nothing(page, message)
        assert (control.bounding_box(), header.bounding_box()) == before, f"the {name} status line moved the page"
    expect(message.get_by_role("link", name="Open the Studio")).to_be_visible()
    tab.check("status-line-job")
