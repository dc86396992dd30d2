"""The retention table and the data map agree, and every rule has a task (and tables) that applies it."""

from __future__ import annotations

from config.retention import ACCOUNT_ERASURE, RULES, Then
from functions.tasks import TASKS
from shared.privacy.datamap import STORAGE, TABLES
from shared.retention.sweeps import PENDING, SWEEPS


def _used_by_datamap() -> set[str]:
    return {item.retention for item in TABLES} | {item.retention for item in STORAGE}


def test_every_retention_class_in_the_data_map_is_a_rule() -> None:
    missing = _used_by_datamap() - set(RULES)
    assert not missing, f"data map names retention classes config/retention.py lacks: {sorted(missing)}"


def test_every_rule_about_personal_data_is_used_by_the_data_map_a_sweep_or_pending() -> None:
    """A table's main retention class is in the data map; a second rule on part of it (a failed job's inputs)
    is named by its sweep."""
    personal = {name for name, rule in RULES.items() if rule.personal}
    unused = personal - _used_by_datamap() - {sweep.rule for sweep in SWEEPS} - set(PENDING)
    assert not unused, f"rules no data-map entry uses: {sorted(unused)}"
    # A pending rule is for a table that does not exist yet, hence not in the map either.
    assert not (set(PENDING) & _used_by_datamap()), "a pending rule is mapped already: give it a Sweep"


def test_every_rule_is_enforced_by_a_registered_task_or_by_erasure() -> None:
    for name, rule in RULES.items():
        assert rule.enforced_by in TASKS or rule.enforced_by == ACCOUNT_ERASURE, name
        assert rule.keep.total_seconds() >= 0, name


def test_rules_for_enforce_retention_have_sweeps_and_sweeps_match_their_rule() -> None:
    swept = {sweep.rule for sweep in SWEEPS}
    for name, rule in RULES.items():
        if rule.enforced_by == "enforce-retention" and name != "relationship_plus_3_years":
            assert name in swept or name in PENDING, f"rule {name} has no table to sweep"
    for sweep in SWEEPS:
        rule = RULES[sweep.rule]
        assert rule.enforced_by == "enforce-retention", sweep
        assert (rule.then is Then.ANONYMISE) == (sweep.anonymise is not None), sweep
        assert (sweep.storage_key is None) == (sweep.lease is None), sweep


def test_the_policy_defaults() -> None:
    days = {name: rule.keep.days for name, rule in RULES.items()}
    assert days["relationship_plus_3_years"] == 3 * 365
    assert (days["security_log"], RULES["security_log"].then) == (90, Then.ANONYMISE)
    assert days["trash"] == 30
    assert days["exports"] == 7
    assert days["failed_job_inputs"] == 7
    assert days["webhook_inbox"] == 90
