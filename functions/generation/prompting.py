"""Image-to-prompt's templates: a prompt shaped for the model family a person picks, composed from what Florence-2
read in the image (its detailed caption, objects `<OD>`, OCR text `<OCR>`, dense region captions).

Plain text functions, no torch: the engine (`Engine._caption`) runs the Florence-2 tasks a family needs
(`FAMILY_TASKS`) and hands the results here as an `ImageReading`.

The templates, per family (config/models.PromptFamily):

- `flux` (FLUX, Qwen-Image: natural language): the detailed caption as sentences, then any text in the image:
  `A red fox sits in the snow. The text "OPEN" appears in the image.`
- `sdxl` (weighted tags): the subject weighted 1.2, the most prominent object 1.1, then the other objects, region
  captions and caption clauses as comma-separated tags, then `highly detailed, sharp focus`:
  `(a red fox:1.2), (fox:1.1), snow, trees in the background, highly detailed, sharp focus`
- `midjourney`: the condensed caption, the objects the caption does not name, and `--ar W:H` from the image's
  own aspect (the nearest ratio of whole numbers up to 21): `a red fox sitting in the snow, with trees --ar 3:2`
- `video`: shot type (from the share of the frame the largest object covers: close-up, medium or wide), subject,
  action (the caption's first "-ing" phrase, else subtle natural motion), camera motion that suits the shot, and the
  scene: `Shot type: medium shot. Subject: a red fox. Action: sitting in the snow. Camera motion: gentle tracking
  shot. Scene: ...`

Every prompt is at most MAX_PROMPT_CHARS characters, so "Use this prompt" never meets `prompt_too_long`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from types import MappingProxyType

from config.models import PromptFamily
from config.values import value

MAX_PROMPT_CHARS = 1000
CAPTION_TASK = "<MORE_DETAILED_CAPTION>"
# The Florence-2 tasks each family's template reads besides the detailed caption.
FAMILY_TASKS: Mapping[PromptFamily, tuple[str, ...]] = MappingProxyType(
    {
        "flux": ("<OCR>",),
        "sdxl": ("<OD>", "<DENSE_REGION_CAPTION>", "<OCR>"),
        "midjourney": ("<OD>",),
        "video": ("<OD>", "<DENSE_REGION_CAPTION>"),
    }
)
MAX_AR_TERM = 21
SDXL_QUALITY_TAGS = ("highly detailed", "sharp focus")
_INTRO = re.compile(
    r"^(the|this|in this|in the)\s+(image|picture|photo|photograph|scene)\s*(shows|is|depicts|features|contains|"
    r"of)?\s*(an? image of|a picture of)?[\s,:]*",
    re.IGNORECASE,
)
_NOT_ACTIONS = frozenset(
    {"building", "clothing", "ceiling", "evening", "morning", "painting", "something", "nothing", "everything",
     "lighting", "ring", "thing", "string", "king", "wing", "spring", "railing", "awning", "bedding"}
)  # fmt: skip
_GERUND = re.compile(r"\b([a-z]{3,}ing)\b([^,.;]*)", re.IGNORECASE)


@value
class Region:
    """A labelled box in image pixels (x0, y0, x1, y1)."""

    label: str
    box: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@value
class ImageReading:
    """What Florence-2 read in one image."""

    caption: str
    width: int
    height: int
    objects: tuple[Region, ...] = ()  # <OD>
    regions: tuple[Region, ...] = ()  # <DENSE_REGION_CAPTION>
    text: str = ""  # <OCR>


def compose(family: PromptFamily, reading: ImageReading) -> str:
    """The prompt for `family` from `reading` (see the module's templates)."""
    if family == "sdxl":
        return _sdxl(reading)
    if family == "midjourney":
        return _midjourney(reading)
    if family == "video":
        return _video(reading)
    return _natural(reading)


def aspect_ratio(width: int, height: int) -> tuple[int, int]:
    """The image's aspect as whole numbers, each at most MAX_AR_TERM (exact when it fits, else the nearest)."""
    exact = Fraction(max(1, width), max(1, height))
    if exact.numerator <= MAX_AR_TERM and exact.denominator <= MAX_AR_TERM:
        return exact.numerator, exact.denominator
    return min(
        ((a, b) for a in range(1, MAX_AR_TERM + 1) for b in range(1, MAX_AR_TERM + 1)),
        key=lambda pair: (abs(pair[0] / pair[1] - float(exact)), pair[0] + pair[1]),
    )


# -- the templates -----------------------------------------------------------------------------------------------


def _natural(reading: ImageReading) -> str:
    sentences = _sentences(reading.caption)
    body = " ".join(s[0].upper() + s[1:] + ("" if s.endswith((".", "!", "?")) else ".") for s in sentences)
    text = _clean(reading.text)
    if text:
        body = f'{body} The text "{text}" appears in the image.'
    return _cap(body.strip() or "An image.", MAX_PROMPT_CHARS)


def _sdxl(reading: ImageReading) -> str:
    subject = _subject(reading.caption)
    tags: list[str] = [f"({subject}:1.2)"]
    objects = _by_size(reading.objects)
    if objects:
        tags.append(f"({_tag(objects[0].label)}:1.1)")
    rest = [o.label for o in objects[1:]] + [r.label for r in _by_size(reading.regions)] + _clauses(reading.caption)[1:]
    text = _clean(reading.text)
    if text:
        rest.append(f'text "{_tag(text)}"')
    tags += [_tag(item) for item in rest]
    tags += SDXL_QUALITY_TAGS
    return _cap(", ".join(_unique(tag for tag in tags if tag)), MAX_PROMPT_CHARS, sep=", ")


def _midjourney(reading: ImageReading) -> str:
    width, height = aspect_ratio(reading.width, reading.height)
    caption = " ".join(_sentences(reading.caption)).rstrip(".") or "an image"
    caption = caption[0].lower() + caption[1:]
    missing = [o.label for o in _by_size(reading.objects) if o.label.lower() not in caption.lower()]
    if missing:
        caption += ", with " + ", ".join(_unique(_tag(label) for label in missing[:5]))
    suffix = f" --ar {width}:{height}"
    return _cap(caption.replace("--", "-").replace("::", ":"), MAX_PROMPT_CHARS - len(suffix)) + suffix


def _video(reading: ImageReading) -> str:
    subject = _subject(reading.caption)
    boxes = _by_size((*reading.objects, *reading.regions))
    share = boxes[0].area / max(1, reading.width * reading.height) if boxes else 0.3
    if share >= 0.6:
        shot, motion = "close-up", "slow push-in"
    elif share >= 0.2:
        shot, motion = "medium shot", "gentle tracking shot"
    else:
        shot, motion = "wide shot", "slow pan across the scene"
    found = _GERUND.search(reading.caption)
    while found and found.group(1).lower() in _NOT_ACTIONS:
        found = _GERUND.search(reading.caption, found.end())
    action = _clean(found.group(0)) if found else "subtle natural motion, the scene slowly coming alive"
    scene = [r.label for r in _by_size(reading.regions)[:3]] + _clauses(reading.caption)[1:3]
    prompt = f"Shot type: {shot}. Subject: {subject}. Action: {action}. Camera motion: {motion}."
    if scene:
        prompt += " Scene: " + ", ".join(_unique(_tag(item) for item in scene)) + "."
    return _cap(prompt, MAX_PROMPT_CHARS)


# -- text helpers ------------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text).replace("\ufffd", " ")
    return " ".join(text.replace("<s>", " ").replace("</s>", " ").split())


def _sentences(caption: str) -> list[str]:
    parts = [_INTRO.sub("", part.strip()) for part in re.split(r"(?<=[.!?])\s+", _clean(caption))]
    return [part for part in (p.strip() for p in parts) if part]


def _clauses(caption: str) -> list[str]:
    clauses: list[str] = []
    for sentence in _sentences(caption):
        clauses += [c.strip(" .!?") for c in re.split(r",|;|\band\b", sentence) if c.strip(" .!?")]
    return clauses


def _subject(caption: str) -> str:
    clauses = _clauses(caption)
    return _tag(clauses[0]) if clauses else "the subject"


def _tag(text: str) -> str:
    """One tag: no commas, brackets or colons (they are the weighting syntax), at most eight words, lower case."""
    words = re.sub(r"[,():\[\]{}]", " ", _clean(text)).split()[:8]
    return " ".join(words).strip(" .").lower()


def _by_size(regions: Iterable[Region]) -> list[Region]:
    return sorted((r for r in regions if _tag(r.label)), key=lambda r: r.area, reverse=True)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _cap(text: str, limit: int, *, sep: str = " ") -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(sep)] if sep in cut else cut
