"""The data map: every table and storage prefix that holds personal data, and what Atelier does with it.

Export and erasure are driven by this declaration, and a test introspects the live schema so that a
user-linked column nobody mapped fails the suite. Add an entry in the same change that adds a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    ACCOUNT = "account"
    USAGE = "usage"
    MEDIA = "media"
    DEVICE = "device/connection"
    PAYMENT = "payment"
    SUPPORT = "support"
    CONSENT = "consent"


class LegalBasis(StrEnum):
    CONTRACT = "contract"  # needed to provide the service the user asked for
    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate interest"
    LEGAL_OBLIGATION = "legal obligation"


class Erasure(StrEnum):
    DELETE = "delete"  # rows go with the account (foreign key ON DELETE CASCADE or explicit delete)
    ANONYMISE = "anonymise"  # the row stays for aggregate purposes with the personal columns cleared
    KEEP_PSEUDONYMISED = "keep pseudonymised"  # kept under a legal obligation, linked by a pseudonym only


@dataclass(frozen=True)
class TableEntry:
    table: str
    subject_column: str | None  # the column holding the account id; None where only a pseudonym remains
    category: Category
    purpose: str
    legal_basis: LegalBasis
    retention: str  # a retention class, see config/retention.py
    erasure: Erasure
    personal_columns: tuple[str, ...] = ()  # other columns holding personal data (email, IP, prompt, ...)


@dataclass(frozen=True)
class StorageEntry:
    prefix: str  # with {user_id} where the user's id goes, e.g. "users/{user_id}/uploads/"
    category: Category
    purpose: str
    retention: str
    erasure: Erasure = Erasure.DELETE


TABLES: tuple[TableEntry, ...] = (
    TableEntry(
        table="accounts",
        subject_column="id",
        category=Category.ACCOUNT,
        purpose="manage the account, provide support and keep generation credits",
        legal_basis=LegalBasis.CONTRACT,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("email", "display_name", "full_name", "avatar_url"),
    ),
    TableEntry(
        table="rate_limit_counters",
        subject_column=None,  # keys are keyed hashes of an address or account id, never the raw value
        category=Category.DEVICE,
        purpose="abuse prevention: request counts per client address and account, per time window",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="rate_limit_windows",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("key_hash",),
    ),
    TableEntry(
        table="security_events",
        subject_column=None,  # subject_ref is a keyed hash of an address or account id
        category=Category.DEVICE,
        purpose="detect and investigate unauthorized access attempts",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="security_log",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("subject_ref",),
    ),
)

STORAGE: tuple[StorageEntry, ...] = ()

# Tables that hold no personal data, with the reason; the schema test accepts these unmapped.
SYSTEM_TABLES: dict[str, str] = {
    "schema_migrations": "migration bookkeeping",
    "task_runs": "scheduled task bookkeeping: task name, times, counts; no user data",
}


def entry(table: str) -> TableEntry:
    for item in TABLES:
        if item.table == table:
            return item
    raise KeyError(table)
