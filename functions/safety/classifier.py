"""The image classifier in process: a ViT image classifier loaded with `from_pretrained`, scoring per category.

Production loads the pinned snapshot of `config.moderation.IMAGE_CLASSIFIER` from the weights volume, like the
generation models. Locally and in tests a tiny ViT of the same architecture, with seeded random weights, is
built in code under the data dir and loaded back through the same path: nothing is downloaded. Its classifier
bias leans to the safe label, so by default it allows everything; tests force "unsafe" with a threshold.

Every answer names the model as loaded, `<id>@<revision>`: the commit folder the volume snapshot was loaded from
(pinned, or locked by `deploy.py weights`), or `tiny-<version>` for the tiny model, never the registry's branch.

Preprocessing is done here (resize, rescale, normalise from the snapshot's preprocessor_config.json) rather
than by the transformers image processor, which would need torchvision for its fast variant.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from config.moderation import IMAGE_CLASSIFIER, ClassifierEntry
from config.settings import Settings
from shared.media.decoding import reserving
from shared.moderation import Classification

TINY_VERSION = "1"
MARKER = ".atelier-tiny-classifier"
TINY_SIZE = 32


class ClassifierWeightsMissing(RuntimeError):
    """The classifier's weights are not on the volume (or its revision is neither pinned nor locked)."""


def classifier_path(settings: Settings, entry: ClassifierEntry = IMAGE_CLASSIFIER) -> Path:
    """Where the classifier's weights are: the volume snapshot of its pinned or locked commit (never a branch), or
    the tiny model (built on first use)."""
    if settings.model_source == "volume":
        from shared.weights import locked_commit, read_lock

        commit = locked_commit(entry, {} if entry.pinned else read_lock(settings.weights_dir))
        if commit is None:
            raise ClassifierWeightsMissing(
                f"{entry.id} is neither pinned nor locked; run deploy.py weights --model {entry.id}"
            )
        path = settings.weights_dir / entry.repo / commit
        if not path.is_dir():
            raise ClassifierWeightsMissing(f"weights for {entry.id} are not on the volume")
        return path
    return ensure_tiny_classifier(settings.data_dir / "models" / "tiny", entry)


def ensure_tiny_classifier(root: Path, entry: ClassifierEntry = IMAGE_CLASSIFIER) -> Path:
    """Build (once, atomically) and return the tiny ViT classifier folder."""
    target = root / f"classifier-{entry.id}"
    marker = target / MARKER
    if marker.exists() and marker.read_text() == TINY_VERSION:
        return target
    import torch
    import transformers.utils.logging as transformers_logging
    from transformers import ViTConfig, ViTForImageClassification

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # logs are JSON lines, no bars
    root.mkdir(parents=True, exist_ok=True)
    labels = ["normal", *entry.labels]  # label 0 is the safe one
    options: dict[str, Any] = {
        "image_size": TINY_SIZE,
        "patch_size": 8,
        "num_channels": 3,
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {label: index for index, label in enumerate(labels)},
    }
    torch.manual_seed(0)
    model: Any = ViTForImageClassification(ViTConfig(**options))
    with torch.no_grad():  # lean to "normal": random weights must not block anyone's image by chance
        model.classifier.bias.copy_(torch.tensor([6.0] + [-6.0] * (len(labels) - 1)))
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".building-"))
    model.save_pretrained(staging)
    preprocessor = {
        "do_resize": True,
        "size": {"height": TINY_SIZE, "width": TINY_SIZE},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (staging / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    (staging / MARKER).write_text(TINY_VERSION)
    try:
        os.replace(staging, target)
    except OSError:  # another process built it first (or a stale version is in the way)
        if not (marker.exists() and marker.read_text() == TINY_VERSION):
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        else:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def loaded_revision(path: Path) -> str:
    """What the folder at `path` holds: the tiny model's identity, or the commit its volume folder is named after."""
    marker = path / MARKER
    if marker.is_file():
        return f"tiny-{marker.read_text().strip()}"
    return path.name  # <weights dir>/<repo>/<commit>, as classifier_path() chose it


class TorchImageClassifier:
    """Scores images with the classifier at `path`; loaded once, one image at a time per instance."""

    def __init__(self, path: Path, entry: ClassifierEntry = IMAGE_CLASSIFIER) -> None:
        import torch
        import transformers.utils.logging as transformers_logging
        from transformers import ViTForImageClassification

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self.entry = entry
        self._torch = torch
        loaded: Any = ViTForImageClassification.from_pretrained(str(path), local_files_only=True)
        self._model: Any = loaded.eval()
        config = json.loads((path / "preprocessor_config.json").read_text())
        size = config.get("size", {})
        self._size = (int(size.get("width", entry.image_size)), int(size.get("height", entry.image_size)))
        self._mean = [float(v) for v in config.get("image_mean", [0.5, 0.5, 0.5])]
        self._std = [float(v) for v in config.get("image_std", [0.5, 0.5, 0.5])]
        self._labels: dict[int, str] = {int(k): v for k, v in self._model.config.id2label.items()}
        self._lock = threading.Lock()
        self.model_id = f"{entry.id}@{loaded_revision(path)}"

    def _tensor(self, image_bytes: bytes) -> Any:
        import numpy as np

        with reserving(image_bytes, output_side=max(self._size)), Image.open(io.BytesIO(image_bytes)) as opened:
            opened.seek(0)  # within the process's decode budget (shared/media/decoding.py)
            image = opened.convert("RGB").resize(self._size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        rescaled = np.asarray(image, dtype=np.float32) / 255.0
        normalised = (rescaled - np.asarray(self._mean, dtype=np.float32)) / np.asarray(self._std, dtype=np.float32)
        return self._torch.from_numpy(normalised.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)

    def scores(self, image_bytes: bytes) -> Mapping[str, float]:
        pixels = self._tensor(image_bytes)
        with self._lock, self._torch.inference_mode():
            probabilities = self._model(pixel_values=pixels).logits.softmax(-1)[0].tolist()
        by_category: dict[str, float] = {}
        for index, probability in enumerate(probabilities):
            category = self.entry.labels.get(self._labels.get(index, ""))
            if category is not None:
                by_category[category] = max(by_category.get(category, 0.0), float(probability))
        return by_category

    def classify(self, image_bytes: bytes) -> Classification:
        return Classification(self.scores(image_bytes), self.model_id)
