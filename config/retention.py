"""Retention policy as data: each class of data → how long it is kept, counted from what, then what happens.

Defaults follow the privacy policies: account, usage and media data for the relationship plus three
years after the last activity of a closed or inactive account; short-lived logs; trashed images,
exports and failed-job inputs for days, not years. An explicit erasure request overrides all of these.

Every `retention=` name in `shared/privacy/datamap.py` is a rule here and every rule about personal data
is used there (tests/unit/test_retention_rules.py). `enforced_by` names the scheduled task that applies
the rule (see functions/tasks.py); the tables each rule sweeps are in `shared/retention/sweeps.py`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from config.values import value


class CountedFrom(StrEnum):
    CREATED = "created"
    DELETED = "deleted"
    FINISHED = "finished"
    LAST_ACTIVITY = "last activity"
    RELATIONSHIP_END = "relationship end"


class Then(StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"


# Not a scheduled task: rows that live exactly as long as the account and go with its erasure.
ACCOUNT_ERASURE = "account erasure"


@value
class RetentionRule:
    name: str
    keep: timedelta
    counted_from: CountedFrom
    then: Then
    what: str
    enforced_by: str = "enforce-retention"  # a task name in functions/tasks.py, or ACCOUNT_ERASURE
    personal: bool = True  # False: bookkeeping with no personal data (no data-map entry uses it)


DAY = timedelta(days=1)

RULES: dict[str, RetentionRule] = {
    rule.name: rule
    for rule in (
        RetentionRule(
            "relationship_plus_3_years",
            3 * 365 * DAY,
            CountedFrom.LAST_ACTIVITY,
            Then.DELETE,
            "account, usage and media data of a closed or inactive account (handed to account erasure)",
        ),
        RetentionRule(
            "relationship",
            timedelta(0),
            CountedFrom.RELATIONSHIP_END,
            Then.DELETE,
            "notices, outbox, analytics and preferences: only while the account exists",
            enforced_by=ACCOUNT_ERASURE,
        ),
        RetentionRule(
            "contact_tickets",
            3 * 365 * DAY,
            CountedFrom.LAST_ACTIVITY,
            Then.DELETE,
            "contact-form tickets (no account): messages, the address and the name given, 3 years after the last",
        ),
        RetentionRule(
            "security_log", 90 * DAY, CountedFrom.CREATED, Then.ANONYMISE, "IPs cut to /24 or /48, user agents dropped"
        ),
        RetentionRule("security_events", 90 * DAY, CountedFrom.CREATED, Then.DELETE, "security events"),
        RetentionRule(
            "trash", 30 * DAY, CountedFrom.DELETED, Then.DELETE, "images the user deleted", enforced_by="purge-media"
        ),
        RetentionRule(
            "exports", 7 * DAY, CountedFrom.FINISHED, Then.DELETE, "finished data exports", enforced_by="expire-exports"
        ),
        RetentionRule(
            "failed_job_inputs",
            7 * DAY,
            CountedFrom.FINISHED,
            Then.ANONYMISE,
            "prompts, negative prompts and input-image links of failed jobs (the job stays, with its error and refund)",
        ),
        RetentionRule("webhook_inbox", 90 * DAY, CountedFrom.CREATED, Then.DELETE, "received payment webhooks"),
        RetentionRule(
            "rate_limit_windows",
            timedelta(minutes=10),
            CountedFrom.FINISHED,
            Then.DELETE,
            "hashed rate-limit counters, after their window ends",
            enforced_by="prune-rate-limits",
        ),
        RetentionRule(
            "task_runs",
            90 * DAY,
            CountedFrom.CREATED,
            Then.DELETE,
            "scheduled task run records",
            enforced_by="prune-task-runs",
            personal=False,
        ),
        RetentionRule(
            "accounting_records",
            10 * 365 * DAY,
            CountedFrom.CREATED,
            Then.DELETE,
            "orders and refunds kept pseudonymised under accounting law",
        ),
        RetentionRule(
            "improvement_dataset",
            timedelta(0),
            CountedFrom.RELATIONSHIP_END,
            Then.DELETE,
            "anonymised images in service-improvement datasets: until the choice is withdrawn, the account is "
            "restricted, suspended or erased, or the image deleted or taken down (within one purge run)",
            enforced_by="purge-improvement-dataset",
        ),
        RetentionRule(
            "audit_log", 3 * 365 * DAY, CountedFrom.CREATED, Then.DELETE, "pseudonymised operator and security actions"
        ),
        RetentionRule(
            "signup_block", DAY, CountedFrom.CREATED, Then.DELETE, "salted hash blocking an under-13 account's retry"
        ),
    )
}


def rule(name: str) -> RetentionRule:
    return RULES[name]
