"""Per-category thresholds: block, the stricter public threshold for publishing, flag for review."""

from __future__ import annotations

import pytest

from config.moderation import IMAGE_CLASSIFIER, THRESHOLDS, Thresholds
from shared.moderation import verdict

LIMITS = {"sexual": Thresholds(flag=0.5, block=0.9, public=0.7)}


@pytest.mark.parametrize(
    ("score", "stage", "outcome"),
    [
        (0.1, "output", "allowed"),
        (0.5, "upload", "flagged"),
        (0.8, "output", "flagged"),
        (0.8, "publish", "blocked"),  # stricter in public
        (0.9, "upload", "blocked"),
        (0.69, "publish", "flagged"),
    ],
)
def test_outcomes_by_stage(score: float, stage: str, outcome: str) -> None:
    found = verdict({"sexual": score}, stage, model="m", thresholds=LIMITS)  # type: ignore[arg-type]
    assert found.outcome == outcome
    assert found.model == "m"
    if outcome != "allowed":
        assert (found.category, found.score) == ("sexual", score)


def test_unknown_categories_are_ignored_and_thresholds_must_be_ordered() -> None:
    assert verdict({"violence": 0.99}, "publish", model="m", thresholds=LIMITS).outcome == "allowed"
    with pytest.raises(ValueError, match="public <= block"):
        Thresholds(flag=0.5, block=0.6, public=0.7)


def test_every_classifier_category_has_thresholds() -> None:
    assert set(IMAGE_CLASSIFIER.labels.values()) <= set(THRESHOLDS)
    assert IMAGE_CLASSIFIER.licence == "apache-2.0"
