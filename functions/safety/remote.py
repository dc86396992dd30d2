"""The classifier as a remote function: the API container (no torch) asks the deployed `classify_image` on Modal.

Looked up by name on first use and called synchronously: one image, a few hundred milliseconds on a warm
CPU container, inside the upload or publish request. Any failure raises, and the moderator fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.moderation import IMAGE_CLASSIFIER
from functions import dispatch

APP_NAME = dispatch.APP_NAME  # the App's name only: importing functions/modal_app would build the App
FUNCTION_NAME = "classify_image"


class RemoteImageClassifier:
    def __init__(self, app_name: str = APP_NAME) -> None:
        self.app_name = app_name
        self.model_id = f"{IMAGE_CLASSIFIER.id}@{IMAGE_CLASSIFIER.revision}"
        self._function: Any = None

    def scores(self, image_bytes: bytes) -> Mapping[str, float]:
        if self._function is None:
            import modal

            self._function = modal.Function.from_name(self.app_name, FUNCTION_NAME)
        answer: dict[str, float] = self._function.remote(image_bytes)
        return {str(category): float(score) for category, score in answer.items()}
