"""The moderator each edge uses, from `ATELIER_IMAGE_CLASSIFIER`: `local` (in process: tiny model locally and in
tests, pinned weights on a GPU container), `modal` (the API on Modal: a remote call, so the API image needs no
torch), or `off` (the term list alone; pixels are not judged).

The in-process classifier is loaded once per process and path, under a lock: six first images arriving together
used to import transformers from six threads at once, and five of them failed (`cannot import name 'ViTConfig'`)
as 503 `moderation_unavailable`. A serving process loads it before it says it is ready (`warm`, called by the
API's start-up when asked: functions/api/readiness.py); a process that never sees an image and is not asked to
warm never imports torch, and missing weights fail each image closed (`moderation_unavailable`) rather than the
whole process.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings
from shared.moderation import Classification, ClassifierModerator, Moderator, TermListModerator

if TYPE_CHECKING:
    from functions.safety.classifier import TorchImageClassifier


_loading = threading.Lock()


@lru_cache(maxsize=4)
def _load(path: Path) -> TorchImageClassifier:
    from functions.safety.classifier import TorchImageClassifier

    return TorchImageClassifier(path)  # once per process and path


def _loaded(path: Path) -> TorchImageClassifier:
    """The classifier at `path`, built and loaded by one thread while the others wait (lru_cache alone lets every
    concurrent first caller build, and lazy imports of transformers are not safe from several threads at once)."""
    with _loading:
        return _load(path)


class InProcessClassifier:
    """The classifier the settings point at (the volume's pinned or locked commit, or the tiny model), resolved per
    image so a newly locked commit is picked up, and named in each answer as loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def classify(self, image_bytes: bytes) -> Classification:
        return _loaded(self._path()).classify(image_bytes)

    def _path(self) -> Path:
        from functions.safety.classifier import classifier_path

        with _loading:  # building the tiny model imports torch and transformers too
            return classifier_path(self.settings)

    def warm(self) -> None:
        """Build (the tiny model) and load the classifier now, so the first images do not wait for it."""
        _loaded(self._path())


def warm(moderator: Moderator) -> None:
    """Load whatever the moderator's classifier needs before the first image (nothing for the term list or a
    remote classifier, whose own container loads it); raises what loading raised."""
    classifier = getattr(moderator, "classifier", None)
    warm_classifier = getattr(classifier, "warm", None)
    if callable(warm_classifier):
        warm_classifier()


def moderator_for(settings: Settings) -> Moderator:
    if settings.image_classifier == "off":
        return TermListModerator(settings.blocked_terms)
    if settings.image_classifier == "modal":
        from functions.safety.remote import RemoteImageClassifier

        return ClassifierModerator(RemoteImageClassifier(), settings.blocked_terms)
    return ClassifierModerator(InProcessClassifier(settings), settings.blocked_terms)
