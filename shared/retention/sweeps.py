"""Which rows each retention rule applies to, as data: one `Sweep` per (rule, table).

Adding a table to retention is one entry here, e.g. for rows that name a storage object:

    Sweep("rule", "table", column="finished_at", where="status = 'ready'",
          storage_key="storage_key", lease="purge_claimed_until")

(Exports are the exception: `expire-exports` deletes every attempt's archive, so it owns that rule.)

The engine (shared/retention/service.py) turns each entry into bounded batches along `column`'s index (a range,
or rows claimed SKIP LOCKED around rows others hold), so every swept column needs an index (partial ones that
match `where` word for word serve best: migration 0034 for jobs). Table, column
and SQL fragments are constants written here, never input; values always travel as parameters
(`%(now)s` may be used in `where` and `anonymise`).
"""

from __future__ import annotations

from config.values import value
from shared.devices.security_log import ANONYMISE_SET
from shared.jobs.repo import JOB_INPUTS_ANONYMISED


@value
class Sweep:
    rule: str  # a name in config.retention.RULES: how long, and delete or anonymise
    table: str
    column: str  # the timestamp the rule counts from; rows with column < now - keep are due
    key: str = "id"  # a unique column (the storage sweep deletes exactly its marked rows by it)
    where: str = "true"  # further SQL a due row must satisfy (e.g. not anonymised yet, a final status)
    anonymise: str | None = None  # the SET clause, for rules whose outcome is anonymise
    storage_key: str | None = None  # a column naming an object in storage, deleted before its row
    lease: str | None = None  # with storage_key: a timestamptz column that marks a row claimed for deletion
    erasing: bool = False  # an append-only table: delete under `set local atelier.erasing = 'on'`


SWEEPS: tuple[Sweep, ...] = (
    Sweep("security_log", "security_log", column="at", where="anonymised_at is null", anonymise=ANONYMISE_SET),
    Sweep("security_events", "security_events", column="at"),
    # Unmatched deliveries are a paid order waiting for its customer's first sign-in: kept until applied.
    Sweep(
        "webhook_inbox",
        "billing_webhook_inbox",
        column="received_at",
        where="status <> 'unmatched'",
        erasing=True,
    ),
    Sweep("accounting_records", "billing_refunds", column="recorded_at", key="polar_refund_id"),
    Sweep("accounting_records", "billing_orders", column="ordered_at", key="polar_order_id"),
    Sweep("audit_log", "audit_log", column="at", erasing=True),
    Sweep("signup_block", "blocked_signups", column="blocked_at", key="subject_hash"),
    # Tickets from the contact form have no account to end with: they go 3 years after their last message
    # (their messages and queued mails cascade). Account tickets follow the account.
    Sweep("contact_tickets", "support_tickets", column="updated_at", where="user_id is null"),
    Sweep(
        "failed_job_inputs",
        "jobs",
        column="finished_at",
        where="status = 'failed'"
        " and (num_nonnulls(prompt, prompt_text, image_id, mask_id) > 0 or params ? 'negative_prompt')",
        anonymise=JOB_INPUTS_ANONYMISED,
    ),
)

# Rules whose tables do not exist yet, with the table that will carry them. A test checks these tables are
# still missing, so the day one is created, the suite asks for its Sweep entry here.
PENDING: dict[str, str] = {}
