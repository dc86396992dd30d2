"""The default moderation term list: an honest, simple floor, not a classifier.

Operators extend it with `ATELIER_BLOCKED_TERMS` (comma-separated). Images are judged by a classifier
(`shared.moderation.ClassifierModerator`) against the per-category thresholds below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

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


@dataclass(frozen=True)
class Thresholds:
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


@dataclass(frozen=True)
class ClassifierEntry:
    """The production image classifier, pinned and licensed like the generation models (config/models.py)."""

    id: str
    repo: str
    revision: str
    licence: str
    labels: Mapping[str, str]  # the model's label → our category; labels not listed here are "safe"
    image_size: int

    @property
    def weights_path(self) -> str:
        return f"{self.repo}/{self.revision}"

    @property
    def pinned(self) -> bool:
        return len(self.revision) == 40 and all(c in "0123456789abcdef" for c in self.revision)


# A ViT-base (86 M parameters) fine-tuned to tell `normal` from `nsfw`, Apache-2.0. Loaded from the weights volume
# at `<ATELIER_WEIGHTS_DIR>/<repo>/<revision>`; locally and in tests a tiny random ViT of the same architecture
# stands in (functions/safety/classifier.py). The revision is pinned to a commit before production use.
IMAGE_CLASSIFIER = ClassifierEntry(
    id="nsfw-vit",
    repo="Falconsai/nsfw_image_detection",
    revision="TO-PIN",
    licence="apache-2.0",
    labels=MappingProxyType({"nsfw": "sexual"}),
    image_size=224,
)
