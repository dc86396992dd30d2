"""Moderation seams: a prompt check before credits are reserved, an image check before anything is kept.

Prompts are checked against a configurable term list (config/moderation.py plus ATELIER_BLOCKED_TERMS).
Images (every output before its hold is posted, every upload before it is stored, every publication) are
judged by `judge_image`: `TermListModerator` cannot see pixels and allows them; `ClassifierModerator` asks an
`ImageClassifier` for per-category scores and applies the thresholds of config/moderation.py, the stricter
`public` one when the image is about to be published. The classifier answers with the exact model that scored
(`nsfw-vit@<commit>` as loaded), so a decision records what judged it, not the branch the registry names.
Where the classifier runs (in process, or a remote function on Modal so the API stays free of torch) is the
edge's choice (functions/safety/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

from config.moderation import BLOCKED_TERMS, THRESHOLDS, Thresholds
from config.values import value
from shared.kit.errors import ServiceUnavailable, Unprocessable

Stage = Literal["output", "upload", "publish"]
Outcome = Literal["allowed", "flagged", "blocked"]


class ContentBlocked(Unprocessable):
    """This request or its output is not allowed by the content policy."""

    code = "content_blocked"


class ModerationUnavailable(ServiceUnavailable):
    """The image classifier did not answer; nothing was stored. Try again shortly."""

    code = "moderation_unavailable"


@value
class ImageVerdict:
    """One decision about one image: what it is recorded as (never the image itself)."""

    outcome: Outcome
    model: str
    category: str | None = None
    score: float = 0.0
    threshold: float = 1.0

    @property
    def allowed(self) -> bool:
        return self.outcome != "blocked"


@value
class Classification:
    """Per-category scores, 0..1 (e.g. {"sexual": 0.03}), and the model that gave them: `<id>@<revision>`, the
    revision being the commit of the weights loaded (or the tiny model's own identity)."""

    scores: Mapping[str, float]
    model: str


class ImageClassifier(Protocol):
    """Scores one encoded image, saying which exact model did."""

    def classify(self, image_bytes: bytes) -> Classification: ...


class Moderator(Protocol):
    def check_prompt(self, text: str) -> None:
        """Raise ContentBlocked for a prompt that must not be rendered."""

    def output_allowed(self, image_bytes: bytes, content_type: str) -> bool:
        """Whether a rendered image may be delivered; a blocked output voids its credits."""

    def judge_image(self, image_bytes: bytes, content_type: str, stage: Stage) -> ImageVerdict:
        """The decision for an image at `stage`, to act on and to record."""


class TermListModerator:
    def __init__(self, extra_terms: Iterable[str] = ()) -> None:
        terms = [t.strip().lower() for t in (*BLOCKED_TERMS, *extra_terms) if t.strip()]
        self._pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)

    def check_prompt(self, text: str) -> None:
        if self._pattern.search(text):
            raise ContentBlocked("The prompt is not allowed by the content policy.")

    def output_allowed(self, image_bytes: bytes, content_type: str) -> bool:
        """A term list cannot judge pixels; a classifier replaces this. Everything passes here."""
        return True

    def judge_image(self, image_bytes: bytes, content_type: str, stage: Stage) -> ImageVerdict:
        allowed = stage != "output" or self.output_allowed(image_bytes, content_type)
        return ImageVerdict("allowed" if allowed else "blocked", model="term-list", score=0.0 if allowed else 1.0)


def verdict(
    scores: Mapping[str, float], stage: Stage, *, model: str, thresholds: Mapping[str, Thresholds] = THRESHOLDS
) -> ImageVerdict:
    """The worst outcome over the categories that have thresholds (unknown categories are ignored)."""
    worst = ImageVerdict("allowed", model=model, score=max(scores.values(), default=0.0))
    rank = {"allowed": 0, "flagged": 1, "blocked": 2}
    for category, limits in thresholds.items():
        score = float(scores.get(category, 0.0))
        block = limits.public if stage == "publish" else limits.block
        if score >= block:
            found = ImageVerdict("blocked", model, category, score, block)
        elif score >= limits.flag:
            found = ImageVerdict("flagged", model, category, score, limits.flag)
        else:
            continue
        if rank[found.outcome] > rank[worst.outcome] or (found.outcome == worst.outcome and score > worst.score):
            worst = found
    return worst


class ClassifierModerator(TermListModerator):
    """The term list for prompts, an image classifier with per-category thresholds for pixels."""

    def __init__(
        self,
        classifier: ImageClassifier,
        extra_terms: Iterable[str] = (),
        thresholds: Mapping[str, Thresholds] = THRESHOLDS,
    ) -> None:
        super().__init__(extra_terms)
        self.classifier = classifier
        self.thresholds = thresholds

    def judge_image(self, image_bytes: bytes, content_type: str, stage: Stage) -> ImageVerdict:
        try:
            found = self.classifier.classify(image_bytes)
        except ModerationUnavailable:
            raise
        except Exception as exc:  # a classifier that fails must not let the image through
            raise ModerationUnavailable() from exc
        return verdict(found.scores, stage, model=found.model, thresholds=self.thresholds)

    def output_allowed(self, image_bytes: bytes, content_type: str) -> bool:
        return self.judge_image(image_bytes, content_type, "output").allowed
