"""The moderator each edge uses, from `ATELIER_IMAGE_CLASSIFIER`: `local` (in process: tiny model locally and in
tests, pinned weights on a GPU container), `modal` (the API on Modal: a remote call, so the API image needs no
torch), or `off` (the term list alone; pixels are not judged).

The in-process classifier loads on its first image, not at start-up: a process that never sees an image
never imports torch, and missing weights fail that image closed (`moderation_unavailable`) rather than the
whole process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings
from shared.moderation import Classification, ClassifierModerator, Moderator, TermListModerator

if TYPE_CHECKING:
    from functions.safety.classifier import TorchImageClassifier


@lru_cache(maxsize=4)
def _loaded(path: Path) -> TorchImageClassifier:
    from functions.safety.classifier import TorchImageClassifier

    return TorchImageClassifier(path)  # once per process and path


class InProcessClassifier:
    """The classifier the settings point at (the volume's pinned or locked commit, or the tiny model), resolved per
    image so a newly locked commit is picked up, and named in each answer as loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def classify(self, image_bytes: bytes) -> Classification:
        from functions.safety.classifier import classifier_path

        return _loaded(classifier_path(self.settings)).classify(image_bytes)


def moderator_for(settings: Settings) -> Moderator:
    if settings.image_classifier == "off":
        return TermListModerator(settings.blocked_terms)
    if settings.image_classifier == "modal":
        from functions.safety.remote import RemoteImageClassifier

        return ClassifierModerator(RemoteImageClassifier(), settings.blocked_terms)
    return ClassifierModerator(InProcessClassifier(settings), settings.blocked_terms)
