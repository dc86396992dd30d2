"""Image-to-prompt's templates (functions/generation/prompting.py): each family's shape from one reading."""

from __future__ import annotations

import re

from functions.generation.prompting import MAX_PROMPT_CHARS, ImageReading, Region, aspect_ratio, compose

READING = ImageReading(
    caption="The image shows a red fox sitting in the snow, with tall pine trees behind it. The sky is grey.",
    width=1536,
    height=1024,
    objects=(Region("fox", (400, 300, 1100, 900)), Region("tree", (0, 0, 300, 1024))),
    regions=(Region("a red fox in snow", (400, 300, 1100, 900)),),
    text="OPEN",
)


def test_flux_is_natural_language_with_the_text_in_the_image() -> None:
    prompt = compose("flux", READING)
    assert prompt.startswith("A red fox sitting in the snow")
    assert prompt.endswith('The text "OPEN" appears in the image.')
    assert "(" not in prompt
    assert "--" not in prompt


def test_sdxl_is_a_weighted_comma_separated_tag_list() -> None:
    prompt = compose("sdxl", READING)
    tags = prompt.split(", ")
    assert tags[0] == "(a red fox sitting in the snow:1.2)"
    assert tags[1] == "(fox:1.1)"
    assert "tree" in tags
    assert "highly detailed" in tags
    assert tags[-1] == "sharp focus"
    assert all(re.fullmatch(r"\([^,()]+:1\.[12]\)|[^,()]+", tag) for tag in tags), tags
    assert len(tags) == len(set(tags))


def test_midjourney_ends_with_the_images_aspect() -> None:
    prompt = compose("midjourney", READING)
    assert prompt.endswith(" --ar 3:2")
    assert prompt.startswith("a red fox sitting in the snow")
    assert prompt.count("--") == 1
    assert aspect_ratio(1920, 1080) == (16, 9)
    assert aspect_ratio(1000, 1001) == (1, 1)  # the nearest small ratio when the exact one is unwieldy
    assert aspect_ratio(64, 48) == (4, 3)


def test_video_names_shot_subject_action_and_camera_motion() -> None:
    prompt = compose("video", READING)
    assert prompt.startswith("Shot type: medium shot. Subject: a red fox sitting in the snow.")
    assert "Action: sitting in the snow." in prompt
    assert "Camera motion: gentle tracking shot." in prompt
    close = ImageReading(caption="A cat.", width=100, height=100, objects=(Region("cat", (0, 0, 100, 90)),))
    assert "Shot type: close-up" in compose("video", close)
    assert "Action: subtle natural motion" in compose("video", close)


def test_prompts_stay_within_the_limit_and_never_empty() -> None:
    long = ImageReading(caption="A fox, " * 500, width=10, height=10, objects=(Region("x" * 50, (0, 0, 1, 1)),) * 50)
    for family in ("flux", "sdxl", "midjourney", "video"):
        prompt = compose(family, long)
        assert 0 < len(prompt) <= MAX_PROMPT_CHARS
        assert compose(family, ImageReading(caption="", width=8, height=8))
