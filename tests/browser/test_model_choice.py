"""The Studio offers a real choice (issue 30): each model with its speed and cost, only the chosen model's controls
with its defaults filled in, and the control chosen reaching POST /v1/jobs (the idle local stack: nothing renders,
the request is what counts); Describe writing for a target and handing its prompt to Create (the full stack). See
conftest.py."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, expect

from tests.browser.conftest import Stack, Tab, new_tab
from tests.browser.journeys import create, member

WAIT = 20_000  # a loaded two-core machine: explicit, generous waits
RENDER = 120_000  # a job rendered by the local stack's worker


def test_a_model_and_its_controls_are_chosen_and_sent(browser: Browser, idle_stack: Stack, tabs: list[Tab]) -> None:
    tab = new_tab(browser, idle_stack.base, "desktop")
    tabs.append(tab)
    page = tab.page
    member(tab, "models")
    model = page.get_by_label("Model", exact=True)
    expect(model.locator("option", has_text="FLUX.1 [schnell]")).to_have_count(1)
    info = page.locator("#model-info")
    expect(info).to_contain_text("1 credit per image")  # the cost and speed beside the choice
    expect(info).to_contain_text("Fast")
    page.get_by_text("Model settings").click()
    steps = page.get_by_label("Steps")
    expect(steps).to_have_value("4", timeout=WAIT)  # schnell's default
    expect(page.get_by_label("Guidance")).to_be_hidden()  # FLUX schnell takes no guidance
    expect(page.get_by_label("Negative prompt")).to_be_hidden()
    # Create has a second model, Qwen-Image: choosing it shows its own controls, its defaults and its price.
    model.select_option("qwen-image")
    expect(page.get_by_label("Guidance")).to_be_visible(timeout=WAIT)
    expect(page.get_by_label("Guidance")).to_have_value("4")
    expect(info).to_contain_text("8 credits per image")
    model.select_option("flux-schnell")
    expect(page.get_by_label("Guidance")).to_be_hidden()

    # Edit's model (FLUX.1 Kontext [dev]) takes guidance and a negative prompt: its own defaults appear.
    page.get_by_role("radio", name="Edit", exact=True).check()
    expect(page.get_by_label("Guidance")).to_have_value("2.5", timeout=WAIT)
    expect(page.get_by_label("Negative prompt")).to_be_visible()
    expect(page.get_by_label("Steps")).to_have_value("28")

    # Back to Create: a second file format and fewer steps go out with the request.
    page.get_by_role("radio", name="Create", exact=True).check()
    page.get_by_role("textbox", name="Prompt").fill("a lighthouse at dawn")
    page.get_by_label("File format").select_option("png")
    steps.fill("2")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/jobs"), timeout=WAIT) as sent:
        page.get_by_role("button", name="Generate").click()
    body: dict[str, Any] = sent.value.post_data_json or {}
    assert body["output_format"] == "png"
    assert body["steps"] == 2
    assert "guidance" not in body
    assert body["model"] == "flux-schnell"
    card = page.get_by_role("region", name="Your generations").get_by_role("article", name="a lighthouse at dawn")
    expect(card).to_be_visible(timeout=WAIT)  # accepted: 202
    tab.check("studio-model-choice")


def test_describe_writes_for_a_target_and_hands_the_prompt_to_create(
    browser: Browser, stack: Stack, tabs: list[Tab]
) -> None:
    tab = new_tab(browser, stack.base, "desktop")
    tabs.append(tab)
    page = tab.page
    member(tab, "describe")
    create(tab, "a red fox in snow")
    page.get_by_role("button", name="Use as input").first.click()
    page.get_by_role("radio", name="Describe", exact=True).check()
    target = page.get_by_label("Write the prompt for")
    expect(target.locator("option", has_text="Midjourney")).to_have_count(1, timeout=WAIT)
    target.select_option("midjourney")
    page.get_by_role("button", name="Generate").click()
    reuse = page.get_by_role("button", name="Use this prompt")
    expect(reuse).to_be_visible(timeout=RENDER)
    described = page.get_by_role("blockquote").first.inner_text()
    assert re.search(r"--ar \d+:\d+$", described), described
    reuse.click()
    expect(page.get_by_role("radio", name="Create")).to_be_checked()
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(described)
    expect(page.get_by_label("Model", exact=True)).to_have_value("flux-schnell")
