"""The shipped privacy policy states the retention periods config/retention.py enforces, so the two cannot drift."""

from __future__ import annotations

import pytest

from config.policies import shipped_text
from config.retention import RULES
from config.settings import Settings

_WORDS = {3: "three"}


def _policy() -> str:
    return " ".join(shipped_text("privacy").split())  # line breaks are layout, not meaning


@pytest.mark.parametrize(
    ("rule", "phrase"),
    [
        ("relationship_plus_3_years", "{years} years after your last activity"),
        ("contact_tickets", "Contact-form messages: {years} years"),
        ("security_log", "Security logs: {days} days"),
        ("exports", "Data exports: {days} days"),
        ("accounting_records", "Orders and refunds: {years} years"),
    ],
)
def test_each_period_in_the_policy_is_the_enforced_one(rule: str, phrase: str) -> None:
    days = RULES[rule].keep.days
    years = _WORDS.get(days // 365, str(days // 365))
    assert phrase.format(days=_WORDS.get(days, str(days)), years=years) in _policy()


def test_the_trash_period_stated_is_the_default_setting() -> None:
    days = Settings.model_fields["trash_days"].default
    assert f"({days} days at most)" in _policy()
    assert RULES["trash"].keep.days == days
