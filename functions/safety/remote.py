"""The classifier as a remote function: the API container (no torch) asks the deployed `classify_image` on Modal.

Looked up by name on first use and called synchronously: one image, a few hundred milliseconds on a warm
CPU container, inside the upload or publish request. The answer names the model the remote container loaded
(`nsfw-vit@<commit>`). Any failure, or an answer without scores or a model, raises, and the moderator fails closed.
"""

from __future__ import annotations

from typing import Any

from functions import job_routing
from shared.moderation import Classification

APP_NAME = job_routing.APP_NAME  # the App's name only: importing functions/modal_app would build the App
FUNCTION_NAME = "classify_image"


class RemoteImageClassifier:
    def __init__(self, app_name: str = APP_NAME) -> None:
        self.app_name = app_name
        self._function: Any = None

    def classify(self, image_bytes: bytes) -> Classification:
        if self._function is None:
            import modal

            self._function = modal.Function.from_name(self.app_name, FUNCTION_NAME)
        return parse_answer(self._function.remote(image_bytes))


def parse_answer(answer: Any) -> Classification:
    """`classify_image`'s answer as a Classification; anything else is an error (the image is then refused)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("model"), str) or not answer["model"]:
        raise ValueError("classify_image answered without the model that scored")
    scores = answer.get("scores")
    if not isinstance(scores, dict):
        raise ValueError("classify_image answered without scores")
    return Classification({str(category): float(score) for category, score in scores.items()}, answer["model"])
