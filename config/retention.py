"""Retention policy as data: each class of data → how long it is kept, counted from what, then what happens.

Defaults follow the privacy policies: account, usage and media data for the relationship plus three
years after the last activity of a closed or inactive account; short-lived logs; trashed images,
exports and failed-job inputs for days, not years. An explicit erasure request overrides all of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class CountedFrom(StrEnum):
    CREATED = "created"
    DELETED = "deleted"
    FINISHED = "finished"
    LAST_ACTIVITY = "last activity"
    RELATIONSHIP_END = "relationship end"


class Then(StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"


@dataclass(frozen=True)
class RetentionRule:
    name: str
    keep: timedelta
    counted_from: CountedFrom
    then: Then
    what: str


RULES: dict[str, RetentionRule] = {
    rule.name: rule
    for rule in (
        RetentionRule(
            "relationship_plus_3_years",
            timedelta(days=3 * 365),
            CountedFrom.LAST_ACTIVITY,
            Then.DELETE,
            "account, usage and media data of a closed or inactive account",
        ),
        RetentionRule(
            "security_log", timedelta(days=90), CountedFrom.CREATED, Then.ANONYMISE, "IP addresses in the security log"
        ),
        RetentionRule("trash", timedelta(days=30), CountedFrom.DELETED, Then.DELETE, "images the user deleted"),
        RetentionRule("exports", timedelta(days=7), CountedFrom.FINISHED, Then.DELETE, "finished data exports"),
        RetentionRule(
            "failed_job_inputs", timedelta(days=7), CountedFrom.FINISHED, Then.DELETE, "inputs of failed jobs"
        ),
        RetentionRule(
            "webhook_inbox", timedelta(days=90), CountedFrom.CREATED, Then.DELETE, "received payment webhooks"
        ),
        RetentionRule(
            "rate_limit_windows",
            timedelta(minutes=10),
            CountedFrom.FINISHED,
            Then.DELETE,
            "hashed rate-limit counters, after their window ends",
        ),
        RetentionRule("task_runs", timedelta(days=90), CountedFrom.CREATED, Then.DELETE, "scheduled task run records"),
        RetentionRule(
            "legal_records",
            timedelta(days=10 * 365),
            CountedFrom.CREATED,
            Then.DELETE,
            "orders kept pseudonymised under accounting law",
        ),
    )
}


def rule(name: str) -> RetentionRule:
    return RULES[name]
