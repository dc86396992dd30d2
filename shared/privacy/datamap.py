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
    *(
        TableEntry(
            table=table,
            subject_column="user_id",
            category=Category.USAGE,
            purpose=purpose,
            legal_basis=LegalBasis.CONTRACT,
            retention="relationship_plus_3_years",
            erasure=Erasure.DELETE,
            personal_columns=personal,
        )
        for table, purpose, personal in (
            ("credit_accounts", "serialise changes to the user's credits", ()),
            ("credit_grants", "record where the user's credits came from", ("reason",)),
            ("credit_grant_state", "track what is left of each credit grant", ()),
            ("credit_revocations", "record credits removed after a refund or chargeback", ("reason",)),
            ("credit_holds", "reserve credits for a generation until it succeeds or fails", ()),
            ("credit_hold_allocations", "record which grants a reservation drew from", ()),
            ("credit_ledger", "show the user every movement of their credits", ()),
        )
    ),
    TableEntry(
        table="audit_log",
        subject_column=None,  # subject_ref is a salted hash of the account id, never the id itself
        category=Category.ACCOUNT,
        purpose="accountability for operator and security actions",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="audit_log",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("subject_ref",),
    ),
    TableEntry(
        table="billing_orders",
        subject_column="user_id",  # set to null when the account is erased; customer_ref stays
        category=Category.PAYMENT,
        purpose="keep the record of each sale the law requires and tie it to the credits it granted",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="accounting_records",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("customer_ref",),  # a salted hash of the account id (the audit pseudonym)
    ),
    TableEntry(
        table="billing_refunds",
        subject_column=None,  # linked to an order, never to an account
        category=Category.PAYMENT,
        purpose="revoke the credits of a refunded payment exactly once",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="accounting_records",
        erasure=Erasure.KEEP_PSEUDONYMISED,
    ),
    TableEntry(
        table="billing_subscriptions",
        subject_column="user_id",
        category=Category.PAYMENT,
        purpose="show the state of the user's subscription",
        legal_basis=LegalBasis.CONTRACT,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
    ),
    TableEntry(
        table="billing_webhook_inbox",
        # Our account id as Polar's customer.external_id (text, no foreign key: it may arrive before the
        # account). The stored payload has the customer's email, names, address and tax id removed.
        subject_column="external_customer_id",
        category=Category.PAYMENT,
        purpose="apply each payment event exactly once and let operators see what Polar sent",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="billing_inbox",
        erasure=Erasure.DELETE,
        personal_columns=("payload",),
    ),
)

STORAGE: tuple[StorageEntry, ...] = ()

# Tables that hold no personal data, with the reason; the schema test accepts these unmapped.
SYSTEM_TABLES: dict[str, str] = {
    "schema_migrations": "migration bookkeeping",
    "audit_pseudonym_key": "the random salt that pseudonymises audit_log.subject_ref",
}


def entry(table: str) -> TableEntry:
    for item in TABLES:
        if item.table == table:
            return item
    raise KeyError(table)
