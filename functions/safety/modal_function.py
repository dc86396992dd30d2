"""The classifier on Modal: `classify_image(bytes) -> {"model", "scores": {category: score}}`, called by name from the
API container; `model` names the commit this container loaded, which the API records with its decision.

Why a separate function: the API image carries no torch (fast cold starts), yet uploads and publications must be
judged inside their request. This CPU container (the GPU image's libraries, no GPU) loads the pinned classifier
from the weights volume once and answers in well under a second; GPU workers classify their outputs in process.
"""

from __future__ import annotations

import modal

from functions.modal_app import SECRETS, WEIGHTS_MOUNT, app, gpu_image, weights_volume


@app.function(
    image=gpu_image,
    volumes={WEIGHTS_MOUNT: weights_volume},
    secrets=SECRETS,
    cpu=2.0,
    memory=4096,
    timeout=60,
    scaledown_window=300,
)
@modal.concurrent(max_inputs=4)
def classify_image(image_bytes: bytes) -> dict[str, object]:
    from config.settings import get_settings
    from functions.safety.factory import InProcessClassifier

    found = InProcessClassifier(get_settings()).classify(image_bytes)
    return {"model": found.model, "scores": dict(found.scores)}
