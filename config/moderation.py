"""The default moderation term list: an honest, simple floor, not a classifier.

Operators extend it with `ATELIER_BLOCKED_TERMS` (comma-separated). Images are judged by a classifier
(`shared.moderation.ClassifierModerator`) against the per-category thresholds below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from config.values import value

_COMMIT = re.compile(r"^[0-9a-f]{40}$")

# Terms whose presence in a prompt blocks a job before any credit is reserved. Matched as whole
# words, case-insensitively. Kept short and unambiguous on purpose: false positives cost users.
BLOCKED_TERMS: tuple[str, ...] = (
    "child sexual",
    "csam",
    "underage nude",
    "minor nude",
    "loli",
    "shota",
    "bestiality",
    "non-consensual",
    "revenge porn",
)


# -- the image classifier -----------------------------------------------------------------------------------------
# Outputs, uploads and gallery publications are scored per category (0..1). A score at or over `block` refuses
# the image (`public` instead when it is about to be published: stricter); at or over `flag` it is allowed but
# listed in `deploy.py moderation queue` for a person to look at.


@value
class Thresholds:
    """A category's scores: to flag for review, to block, and the stricter bar for the public gallery."""

    flag: float
    block: float
    public: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.public <= self.block <= 1.0 and 0.0 <= self.flag <= 1.0):
            raise ValueError(f"thresholds need 0 <= public <= block <= 1 and 0 <= flag <= 1, got {self}")


THRESHOLDS: Mapping[str, Thresholds] = MappingProxyType(
    {
        "sexual": Thresholds(flag=0.5, block=0.9, public=0.7),
    }
)


@value
class ClassifierEntry:
    """The production image classifier, licensed like the generation models (config/models.py) and, like them,
    naming a commit (pinned) or a branch that `deploy.py weights` resolves and locks on the volume (shared/weights.py).
    """

    id: str
    repo: str
    revision: str
    licence: str
    labels: Mapping[str, str]  # the model's label → our category; labels not listed here are "safe"
    image_size: int
    allow_patterns: tuple[str, ...] = ()  # what `deploy.py weights` downloads; empty = the whole repo

    @property
    def pinned(self) -> bool:
        return bool(_COMMIT.match(self.revision))


# A ViT-base (86 M parameters) fine-tuned to tell `normal` from `nsfw`, Apache-2.0. Loaded from the weights volume
# at `<ATELIER_WEIGHTS_DIR>/<repo>/<commit>` (the pinned or locked commit); locally and in tests a tiny random ViT of
# the same architecture stands in (functions/safety/classifier.py). `deploy.py weights` downloads and locks it with
# the generation models (`--model nsfw-vit`, `--update nsfw-vit`); deploy refuses while it is neither pinned nor locked.
IMAGE_CLASSIFIER = ClassifierEntry(
    id="nsfw-vit",
    repo="Falconsai/nsfw_image_detection",
    revision="main",  # locked on the volume by `deploy.py weights`
    licence="apache-2.0",
    labels=MappingProxyType({"nsfw": "sexual"}),
    image_size=224,
    allow_patterns=("*.json", "*.safetensors"),  # config, preprocessor config, weights
)
