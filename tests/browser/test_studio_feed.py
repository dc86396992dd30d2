"""The Studio as a workspace (issue 28): the feed of generations, a job as a card from the moment it is accepted,
the image's own page, the prompt's keyboard and limits, and what a new user hit. Chromium against the local stack,
at a desktop (1280×800) and a phone (390×844) width; see conftest.py."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from tests.browser.conftest import Stack, Tab, new_tab
from tests.browser.journeys import dismiss_cookies, go, member, new_email

WAIT = 20_000  # a loaded two-core machine: explicit, generous waits
RENDER = 120_000  # a job rendered by the local stack's worker
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


def _tab(browser: Browser, stack: Stack, tabs: list[Tab], viewport: str) -> Tab:
    tab = new_tab(browser, stack.base, viewport)
    if viewport == "desktop":
        tab.page.set_viewport_size(DESKTOP)
    tabs.append(tab)
    return tab


def _feed(page: Page) -> Locator:
    return page.get_by_role("region", name="Your generations")


def _focused_label(page: Page) -> str:
    label: str = page.evaluate(
        "document.activeElement === document.body ? 'BODY' : "
        "(document.activeElement.getAttribute('aria-label') || document.activeElement.textContent)"
    )
    return label


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_job_is_a_card_at_once_and_survives_leaving_and_reloading(
    browser: Browser, idle_stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    """The idle stack has no worker: the job stays queued, so the card's state is deterministic."""
    tab = _tab(browser, idle_stack, tabs, viewport)
    page = tab.page
    member(tab, "feed")
    prompt = f"a kite over dunes {new_email('k')[:10]}"
    box = page.get_by_role("textbox", name="Prompt")
    box.fill(prompt)
    expect(page.get_by_text(re.compile(r"^1,9\d\d characters left$"))).to_be_visible()
    page.get_by_label("Images").select_option("2")
    box.press("Control+Enter")  # Ctrl+Enter generates
    card = _feed(page).get_by_role("article", name=prompt)
    expect(card).to_be_visible(timeout=WAIT)
    expect(card).to_be_focused()  # focus moves to the new card, not to <body>
    expect(card.get_by_role("progressbar")).to_be_visible()
    expect(card.get_by_text("Waiting for a free worker")).to_be_visible()
    expect(card.get_by_role("button", name="Cancel")).to_be_visible()
    expect(card.get_by_role("listitem")).to_have_count(2)  # one slot per image, in the job's shape
    expect(card.get_by_role("progressbar")).to_be_in_viewport()  # the progress is where the eye is
    tab.check("studio-card-queued")
    page.keyboard.press("Escape")  # and back to the prompt
    expect(box).to_be_focused()

    box.fill(f"{prompt}, second draft")  # a draft the person has not submitted yet
    go(page, "History")
    expect(page.get_by_role("heading", name="History", level=1)).to_be_visible(timeout=WAIT)
    go(page, "Studio")
    expect(card.get_by_role("progressbar")).to_be_visible(timeout=WAIT)  # the feed is rebuilt: the job is there
    expect(box).to_have_value(f"{prompt}, second draft")  # and so is the draft
    page.reload()
    expect(card.get_by_role("progressbar")).to_be_visible(timeout=WAIT)
    expect(card.get_by_role("listitem")).to_have_count(2)
    expect(box).to_have_value(f"{prompt}, second draft")

    card.get_by_role("button", name="Cancel").click()
    expect(card.get_by_text("Canceled: nothing was charged.")).to_be_visible(timeout=WAIT)
    expect(card.get_by_role("progressbar")).to_have_count(0)
    assert _focused_label(page) != "BODY"  # the Cancel button went away; focus did not fall to <body>
    expect(page.get_by_text("10 credits available")).to_be_visible(timeout=WAIT)


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_prompt_pasted_over_the_limit_is_kept_and_said_so(
    browser: Browser, idle_stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = _tab(browser, idle_stack, tabs, viewport)
    page = tab.page
    member(tab, "paste")
    box = page.get_by_role("textbox", name="Prompt")
    box.fill("a harbour, ")
    box.focus()
    page.evaluate(
        """() => {
        const data = new DataTransfer();
        data.setData('text/plain', 'x'.repeat(2100));
        const paste = new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true});
        document.activeElement.dispatchEvent(paste);
    }"""
    )
    assert len(box.input_value()) == len("a harbour, ") + 2100  # nothing was cut
    expect(page.get_by_text(re.compile(r"^111 characters over the limit of 2,000$"))).to_be_visible()
    expect(page.get_by_text(re.compile("That paste makes the prompt 111 characters longer"))).to_be_visible()
    expect(page.get_by_role("button", name="Generate")).to_be_disabled()
    tab.check("studio-prompt-over")
    box.fill("a harbour")
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_model_labels_fit_their_select(browser: Browser, idle_stack: Stack, tabs: list[Tab], viewport: str) -> None:
    tab = _tab(browser, idle_stack, tabs, viewport)
    page = tab.page
    member(tab, "labels")
    for task in ("Create", "Edit", "Inpaint", "Upscale", "Describe"):
        page.get_by_role("radio", name=task).check()
        select = page.get_by_role("combobox", name="Model")
        expect(select).to_be_visible()
        # The widest option's text against the room the select gives it (less its padding and arrow).
        overflow = select.evaluate(
            """(el) => {
            const style = getComputedStyle(el);
            const ctx = document.createElement('canvas').getContext('2d');
            ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
            const widest = Math.max(...[...el.options].map((o) => ctx.measureText(o.text).width));
            const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 24;
            return widest - room;
        }"""
        )
        assert overflow <= 0, f"{task}: the model label is cut off by {overflow:.0f}px"


def test_out_of_credits_is_said_next_to_generate_which_waits(
    browser: Browser, idle_stack: Stack, tabs: list[Tab]
) -> None:
    tab = _tab(browser, idle_stack, tabs, "desktop")
    page = tab.page
    member(tab, "broke2")
    box = page.get_by_role("textbox", name="Prompt")
    generate = page.get_by_role("button", name="Generate")
    for n in range(2):  # queued jobs hold 4 credits each: 10 → 6 → 2
        box.fill(f"four at once {n}")
        page.get_by_label("Images").select_option("4")
        generate.click()
        expect(_feed(page).get_by_role("article", name=f"four at once {n}")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("2 credits available")).to_be_visible(timeout=WAIT)
    alert = page.get_by_role("alert").filter(has_text="You don't have enough credits")
    expect(alert).to_be_visible()
    expect(alert).to_be_in_viewport()  # beside Generate, not below the fold
    expect(generate).to_be_disabled()
    tab.check("studio-out-of-credits")
    page.get_by_label("Images").select_option("2")  # what the balance allows: Generate again
    expect(generate).to_be_enabled()
    expect(alert).to_have_count(0)
    page.get_by_label("Images").select_option("4")
    alert.get_by_role("link", name="Buy credits").click()
    expect(page.get_by_role("heading", name="Credits", level=1)).to_be_visible(timeout=WAIT)


def _png(path: Path, color: tuple[int, int, int]) -> Path:
    image = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(image, "PNG")
    path.write_bytes(image.getvalue())
    return path


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_an_image_has_its_own_page_and_a_job_ending_elsewhere_says_so(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str, tmp_path: Path
) -> None:
    tab = _tab(browser, stack, tabs, viewport)
    page = tab.page
    member(tab, "page")
    prompt = f"a copper kettle {new_email('c')[:10]}"
    page.get_by_role("textbox", name="Prompt").fill(prompt)
    page.get_by_role("button", name="Generate").click()
    card = _feed(page).get_by_role("article", name=prompt)
    expect(card).to_be_visible(timeout=WAIT)
    go(page, "Gallery")  # elsewhere while it renders
    notice = page.get_by_role("status").filter(has_text="ready")
    expect(notice).to_be_visible(timeout=RENDER)
    notice.get_by_role("link", name="Open it").click()

    expect(page.get_by_role("heading", name="Your image", level=1)).to_be_visible(timeout=WAIT)
    assert re.search(r"#/image/[0-9a-f-]{36}$", page.url)
    expect(page.get_by_role("img", name=prompt)).to_be_visible()
    facts = page.get_by_role("definition")
    for value in ("Create", "FLUX.1 [schnell]", "1:1", "1 credit", "Not in the gallery"):
        expect(facts.filter(has_text=re.compile(f"^{re.escape(value)}$"))).to_have_count(1)
    expect(facts.filter(has_text=re.compile(r"^\d+$"))).to_have_count(1)  # the seed
    expect(facts.filter(has_text=re.compile(r"^Made with AI by Atelier · signed$"))).to_have_count(1)
    tab.check("image-page")
    page.get_by_role("button", name="Full size").click()
    expect(page.get_by_role("button", name="Full size")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Copy prompt").click()
    expect(page.get_by_role("status").filter(has_text=re.compile("Prompt copied|copy it"))).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    words = "-".join(prompt.replace("@", " ").split()[:6]).lower()
    assert download.value.suggested_filename.startswith(f"atelier-{words[:10]}")
    assert download.value.suggested_filename.endswith(".webp")

    page.reload()  # a deep link survives a reload
    expect(page.get_by_role("heading", name="Your image", level=1)).to_be_visible(timeout=WAIT)
    page.get_by_role("switch", name="Show in gallery").check()
    expect(page.get_by_role("status").filter(has_text="Shown in the gallery")).to_be_visible(timeout=WAIT)
    expect(facts.filter(has_text=re.compile("^In the gallery$"))).to_have_count(1)

    # History opens the same page; its "Use in studio" offers Create with the prompt, or the image in Edit.
    go(page, "History")
    tile = page.get_by_role("listitem").filter(has=page.get_by_role("img", name=prompt))
    tile.get_by_text("Use in studio").click()
    tile.get_by_role("button", name="Create with this prompt").click()
    expect(page.get_by_role("radio", name="Create")).to_be_checked(timeout=WAIT)
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(prompt)
    go(page, "History")
    tile.get_by_text("Use in studio").click()
    tile.get_by_role("button", name="Edit this image").click()
    expect(page.get_by_role("radio", name="Edit")).to_be_checked(timeout=WAIT)
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value("")  # no prompt as an edit instruction
    expect(page.get_by_role("img", name="The input image")).to_be_visible()

    # "Use as input" replaces a chosen file: the file field no longer names it.
    page.get_by_label("Image", exact=True).set_input_files(str(_png(tmp_path / "mine.png", (200, 40, 40))))
    expect(page.get_by_text("Using an image of 96×64 pixels.")).to_be_visible(timeout=WAIT)
    _feed(page).get_by_role("article", name=prompt).get_by_role("button", name="Use as input").click()
    expect(page.get_by_label("Image", exact=True)).to_have_value("")
    expect(page.get_by_text("Using an image of 96×64 pixels.")).to_have_count(0)

    # The feed opens the page too; Delete asks first, then the image is gone from the feed and History.
    _feed(page).get_by_role("link", name=prompt).click()
    expect(page.get_by_role("heading", name="Your image", level=1)).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog", name="Delete this image?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("leaves the gallery too")
    dialog.get_by_role("button", name="Delete image").click()
    expect(page.get_by_role("heading", name="Studio", level=1)).to_be_visible(timeout=WAIT)  # Back where it came from
    expect(_feed(page).get_by_role("img", name=prompt)).to_have_count(0)
    go(page, "History")
    expect(page.get_by_role("heading", name="History", level=1)).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("img", name=prompt)).to_have_count(0)


def test_a_gallery_image_opens_its_public_page(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    owner = _tab(browser, stack, tabs, "desktop")
    member(owner, "pub")
    prompt = f"a paper crane {new_email('p')[:10]}"
    owner.page.get_by_role("textbox", name="Prompt").fill(prompt)
    owner.page.get_by_role("button", name="Generate").click()
    owner.page.get_by_role("article", name=prompt).get_by_role("link", name=prompt).click(timeout=RENDER)
    owner.page.get_by_role("switch", name="Show in gallery").check()
    expect(owner.page.get_by_role("status").filter(has_text="Shown in the gallery")).to_be_visible(timeout=WAIT)

    for viewport in ("desktop", "mobile"):
        visitor = _tab(browser, stack, tabs, viewport)
        visitor.open("gallery")
        dismiss_cookies(visitor)  # as a person does, before pressing anything (the banner gone)
        visitor.page.get_by_role("link", name=prompt).click()
        expect(visitor.page.get_by_role("heading", name="From the gallery", level=1)).to_be_visible(timeout=WAIT)
        expect(visitor.page.get_by_role("img", name=prompt)).to_be_visible()
        expect(visitor.page.get_by_role("button", name="Copy prompt")).to_be_visible()
        for owners_only in ("Delete", "Re-run", "Variations", "Upscale to 4K"):
            expect(visitor.page.get_by_role("button", name=owners_only)).to_have_count(0)
        expect(visitor.page.get_by_role("switch", name="Show in gallery")).to_have_count(0)
        visitor.check("image-page-public")
        visitor.page.go_back()
        expect(visitor.page.get_by_role("heading", name="Gallery", level=1)).to_be_visible(timeout=WAIT)


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_size_with_its_cost_variations_and_recent_prompts(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = _tab(browser, stack, tabs, viewport)
    page = tab.page
    member(tab, "vary")
    prompt = f"a glass teapot {new_email('t')[:10]}"
    page.get_by_role("textbox", name="Prompt").fill(prompt)
    size = page.get_by_role("group", name="Size")
    size.get_by_role("radio", name="4K").check()
    expect(page.get_by_text(re.compile(r"^This costs 18 credits\."))).to_be_visible()  # GET /v1/studio's price
    expect(page.get_by_role("button", name="Generate")).to_be_disabled()  # more than the 10 welcome credits
    size.get_by_role("radio", name="Standard").check()
    expect(page.get_by_text(re.compile(r"^This costs 1 credit\."))).to_be_visible()
    page.get_by_role("button", name="Generate").click()
    card = _feed(page).get_by_role("article", name=prompt)
    expect(card.get_by_role("img", name=prompt)).to_be_visible(timeout=RENDER)

    card.get_by_role("button", name="Variations").click()
    expect(page.get_by_role("radio", name="Variations")).to_be_checked()
    strength = page.get_by_role("group", name="Strength")
    expect(strength.get_by_role("radio", name="Subtle")).to_be_checked()
    strength.get_by_role("radio", name="Strong").check()
    page.get_by_label("Images").select_option("2")
    expect(page.get_by_text(re.compile(r"^This costs 2 credits\."))).to_be_visible()
    tab.check("studio-variations")
    page.get_by_role("button", name="Generate").click()
    expect(_feed(page).get_by_role("article", name=prompt)).to_have_count(2)
    newest = _feed(page).get_by_role("article", name=prompt).first
    expect(newest.get_by_text("Variations", exact=True)).to_be_visible()
    expect(newest.get_by_role("img", name=prompt)).to_have_count(2, timeout=RENDER)

    page.reload()
    page.get_by_text("Recent prompts").click()
    page.get_by_role("list", name="Recent prompts").get_by_role("button", name=prompt).click()
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(prompt)
