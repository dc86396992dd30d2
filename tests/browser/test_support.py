"""Support in the browser: a ticket with an image attachment, the operator's answer in the conversation, the
signed-out contact form, and the footer every page carries."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, FilePayload, expect

from tests.browser.conftest import Stack, Tab, new_tab
from tests.browser.journeys import dismiss_cookies, go, member, new_email
from tests.browser.operator import deploy

CAMERA = "SecretCam 9000"  # an EXIF camera model the attachment must lose


def _photo() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 90, 40))
    exif = Image.Exif()
    exif[0x0110] = CAMERA  # Model
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert CAMERA.encode() in buffer.getvalue()
    return buffer.getvalue()


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_a_ticket_with_an_image_is_opened_listed_and_answered(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str, tmp_path: Path
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tabs.append(tab)
    page = tab.page
    member(tab, "help")
    go(page, "Support")
    expect(page.get_by_role("heading", name="Support", level=1)).to_be_visible()
    expect(page.get_by_text("No tickets yet.")).to_be_visible()
    tab.check("support-empty")

    subject = f"My upscale looks blurry {uuid.uuid4().hex[:6]}"
    page.get_by_role("textbox", name="Subject").fill(subject)
    page.get_by_role("textbox", name="Message").fill("The second image is blurry.\nScreenshot attached.")
    page.get_by_label("Images (optional)").set_input_files(
        [FilePayload(name="screenshot.jpg", mimeType="image/jpeg", buffer=_photo())]
    )
    page.get_by_role("button", name="Send ticket").click()

    expect(page.get_by_role("heading", name=subject, level=1)).to_be_visible()
    conversation = page.get_by_role("list", name="Conversation")
    expect(conversation.get_by_text("The second image is blurry.")).to_be_visible()
    attachment = conversation.get_by_role("img", name="Attachment 1")
    expect(attachment).to_be_visible()
    expect(attachment).to_have_js_property("complete", True)
    assert attachment.evaluate("img => img.naturalWidth") == 64  # the stored image loads in the page
    stored = httpx.get(str(attachment.get_attribute("src")), timeout=10)
    assert stored.status_code == 200
    assert CAMERA.encode() not in stored.content  # metadata stripped, as uploads are
    assert Image.open(io.BytesIO(stored.content)).size == (64, 48)
    tab.check("support-ticket")

    page.get_by_role("link", name="All tickets").click()
    listed = page.get_by_role("list", name="Your tickets")
    expect(listed.get_by_role("link", name=subject)).to_be_visible()
    expect(listed.get_by_text("Waiting for us")).to_be_visible()
    ticket_id = str(listed.get_by_role("link", name=subject).get_attribute("href")).rsplit("/", 1)[-1]

    # The operator answers from the inbox (`deploy.py support reply`), against this stack's database.
    answer = tmp_path / "reply.md"
    answer.write_text("Thanks! Try the 4x upscaler with a lower strength.\n", encoding="utf-8")
    assert ticket_id in deploy(stack, "support", "list", "--open")
    deploy(stack, "support", "reply", ticket_id, "--file", str(answer))

    page.reload()
    expect(listed.get_by_text("Answered")).to_be_visible()
    listed.get_by_role("link", name=subject).click()
    reply = conversation.get_by_role("listitem").filter(has_text="Atelier support")
    expect(reply).to_contain_text("Try the 4x upscaler with a lower strength.")

    page.get_by_role("textbox", name="Your reply").fill("That worked, thank you!")
    page.get_by_role("button", name="Send reply").click()
    # The messages, not the attachment list nested in the first one (its items are list items of the conversation
    # too: counting every list item passed only when the check ran before the reply was appended).
    messages = conversation.get_by_role("listitem").filter(has_text=re.compile(r"^(You|Atelier support) · "))
    expect(messages).to_have_count(3)
    expect(messages.last).to_contain_text("That worked, thank you!")
    tab.check("support-conversation")


def test_support_refuses_too_many_images_in_words(browser: Browser, stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    member(tab, "many")
    tab.open("support")
    page.get_by_role("textbox", name="Subject").fill("Six screenshots")
    page.get_by_role("textbox", name="Message").fill("Here they are.")
    photo = _photo()
    page.get_by_label("Images (optional)").set_input_files(
        [FilePayload(name=f"s{i}.jpg", mimeType="image/jpeg", buffer=photo) for i in range(6)]
    )
    page.get_by_role("button", name="Send ticket").click()
    expect(page.get_by_role("alert")).to_have_text("Please attach at most 5 images.")
    expect(page.get_by_text("No tickets yet.")).to_be_visible()  # nothing was sent


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_the_signed_out_contact_form_sends_and_shows_its_reference(
    browser: Browser, stack: Stack, tabs: list[Tab], viewport: str
) -> None:
    tab = new_tab(browser, stack.base, viewport)
    tab.allow_http(422)
    tabs.append(tab)
    page = tab.page
    tab.open("studio")  # signed out: the sign-in page links the contact form
    dismiss_cookies(tab)
    page.get_by_role("main").get_by_role("link", name="Contact us").click()
    expect(page.get_by_role("heading", name="Contact us", level=1)).to_be_visible()
    tab.check("contact")

    page.get_by_role("textbox", name="Your email").fill("not-an-address@")
    page.get_by_role("textbox", name="Message").fill("I can't sign in with Google.")
    page.get_by_role("textbox", name="Your email").evaluate("input => (input.type = 'text')")  # past the browser check
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter one email address we can answer to")

    page.get_by_role("textbox", name="Your email").fill(new_email("visitor"))
    page.get_by_role("textbox", name="Your name (optional)").fill("Ada")
    page.get_by_label("Topic").select_option("account")
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_role("heading", name="Message sent")).to_be_visible()
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{8}", reference)  # short enough to quote, not a raw UUID
    assert reference in deploy(stack, "support", "list", "--open")  # it reached the inbox
    assert "I can't sign in with Google." in deploy(stack, "support", "show", reference)  # found by the reference
    tab.check("contact-sent")


def test_the_footer_links_policies_cookies_and_contact_on_every_page(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base)
    tabs.append(tab)
    page = tab.page
    tab.open("gallery")
    dismiss_cookies(tab)
    for route in ("gallery", "studio", "policy/terms", "contact"):
        tab.open(route)
        footer = page.get_by_role("contentinfo")
        for name in ("Privacy policy", "Terms", "Contact us"):
            expect(footer.get_by_role("link", name=name)).to_be_visible()
        expect(footer.get_by_role("button", name="Cookie settings")).to_be_visible()
    page.get_by_role("contentinfo").get_by_role("button", name="Cookie settings").click()
    expect(page.get_by_role("region", name="Cookie choices")).to_be_visible()
    page.get_by_role("contentinfo").get_by_role("link", name="Contact us").click()
    expect(page.get_by_role("heading", name="Contact us", level=1)).to_be_visible()
