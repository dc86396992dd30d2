"""The data map: every table and storage prefix that holds personal data, and what Atelier does with it.

Export and erasure are driven by this declaration, and a test introspects the live schema so that a
user-linked column nobody mapped fails the suite. Add an entry in the same change that adds a table.
"""

from __future__ import annotations

from enum import StrEnum

from config.processors import PROCESSORS
from config.values import value


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


@value
class TableEntry:
    table: str
    subject_column: str | None  # the column holding the account id; None where only a pseudonym remains
    category: Category
    purpose: str
    legal_basis: LegalBasis
    retention: str  # a retention class, see config/retention.py
    erasure: Erasure
    personal_columns: tuple[str, ...] = ()  # other columns holding personal data (email, IP, prompt, ...)
    # Rows tied to the account through a proven link other than `subject_column` (a contact-form ticket sent signed
    # in with the account's own address): an SQL condition on the table with `%(uid)s`, the account id. Export
    # includes them; erasure deletes them.
    contact_match: str | None = None
    # Rows that merely name the account's address, unproven (anyone can type any address into the contact form):
    # an SQL condition with `%(email)s`. Never exported to anyone; erasure deletes them (that discloses nothing).
    address_match: str | None = None


@value
class StorageEntry:
    prefix: str  # with {user_id} where the user's id goes, e.g. "users/{user_id}/uploads/"
    category: Category
    purpose: str
    retention: str
    erasure: Erasure = Erasure.DELETE
    exported: bool = True  # copied into the user's data export (the exports themselves are not)


@value
class Recipient:
    """A processor or other recipient of personal data, named in the export's summary."""

    name: str
    role: str
    data: str


# A contact-form ticket belongs to an account only when its address was proven (sent signed in with the account's
# own address: `contact_user_id`, migration 0023); one that merely names the address belongs to nobody.
CONTACT_TICKET = "user_id is null and contact_user_id = %(uid)s"
CONTACT_ADDRESS = "user_id is null and lower(contact_email) = lower(%(email)s)"

TABLES: tuple[TableEntry, ...] = (
    TableEntry(
        table="accounts",
        subject_column="id",
        category=Category.ACCOUNT,
        purpose="manage the account, provide support and keep generation credits",
        legal_basis=LegalBasis.CONTRACT,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=(
            "email",
            "display_name",
            "full_name",
            "avatar_url",
            "restriction_reason",
            "suspension_reason",
        ),
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
    # Consent, policies and device data (issue 8).
    TableEntry(
        table="policy_acceptances",
        subject_column="user_id",
        category=Category.CONSENT,
        purpose="prove which policy and terms version the user accepted and when",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
    ),
    TableEntry(
        table="consent_events",
        subject_column="user_id",
        category=Category.CONSENT,
        purpose="prove the cookie and analytics choices made, against the exact notice shown",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("device_id", "ip_truncated", "user_agent_sha256"),
    ),
    TableEntry(
        table="notifications",
        subject_column="user_id",
        category=Category.ACCOUNT,
        purpose="tell the user about policy changes in the app",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="relationship",
        erasure=Erasure.DELETE,
    ),
    TableEntry(
        table="email_outbox",
        subject_column="user_id",
        category=Category.ACCOUNT,
        purpose="email the user about policy changes, exports, deletion and support replies, and acknowledge "
        "contact-form messages (the address is read from the account or ticket at send time)",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="relationship",
        erasure=Erasure.DELETE,
    ),
    TableEntry(
        table="analytics_events",
        subject_column="user_id",
        category=Category.USAGE,
        purpose="count feature, model, aspect-ratio and edit-action use to improve the product",
        legal_basis=LegalBasis.CONSENT,
        retention="relationship",
        erasure=Erasure.DELETE,
    ),
    TableEntry(
        table="security_log",
        subject_column="user_id",
        category=Category.DEVICE,
        purpose="secure the service and troubleshoot per device (IP, browser, OS, device type, language, screen)",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="security_log",
        erasure=Erasure.DELETE,
        personal_columns=("ip", "user_agent", "browser", "os", "device_type", "language", "screen"),
    ),
    TableEntry(
        table="blocked_signups",
        subject_column=None,
        category=Category.ACCOUNT,
        purpose="refuse an immediate retry by an account refused as under 13 (salted hash of the id only)",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="signup_block",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("subject_hash",),
    ),
    TableEntry(
        table="support_tickets",
        subject_column="user_id",
        category=Category.SUPPORT,
        # Contact-form tickets have no account: the address and name given are kept on the ticket only, to
        # answer; such a ticket is deleted 3 years after its last message (rule contact_tickets). It is tied to
        # an account (`contact_user_id`) only when sent signed in with the account's own address.
        purpose="answer the user's support requests and contact-form messages",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("subject", "contact_email", "contact_name", "contact_user_id"),
        contact_match=CONTACT_TICKET,
        address_match=CONTACT_ADDRESS,
    ),
    TableEntry(
        table="support_messages",
        subject_column="user_id",
        category=Category.SUPPORT,
        purpose="the messages of a support conversation (the user's and staff replies)",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("body",),
        # `= any(array(...))`, not `in (select ...)`: the export ORs this with `user_id = ...`, and an OR with a
        # sub-select read every message; the array is found once and both halves use their index.
        contact_match=f"ticket_id = any(array(select id from support_tickets where {CONTACT_TICKET}))",
        address_match=f"ticket_id in (select id from support_tickets where {CONTACT_ADDRESS})",
    ),
    TableEntry(
        table="support_attachments",
        subject_column="user_id",
        category=Category.SUPPORT,
        purpose="images attached to support messages (metadata stripped); bytes under users/{user_id}/support/",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("storage_key",),
    ),
    TableEntry(
        table="media",
        subject_column="user_id",
        category=Category.MEDIA,
        purpose="store uploads and generated images, show them in the history and, when published, the gallery",
        legal_basis=LegalBasis.CONTRACT,
        retention="trash",
        erasure=Erasure.DELETE,
        personal_columns=("prompt", "takedown_reason"),
    ),
    TableEntry(
        table="jobs",
        subject_column="user_id",
        category=Category.USAGE,
        purpose="run the generation, variation, edit, upscale or image-to-prompt the user asked for and settle its"
        " credits",
        legal_basis=LegalBasis.CONTRACT,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("prompt", "prompt_text", "params"),  # params: the negative prompt
    ),
    TableEntry(
        table="preferences",
        subject_column="user_id",
        category=Category.CONSENT,
        purpose="remember the user's choices about optional processing and gallery display",
        legal_basis=LegalBasis.CONTRACT,
        retention="relationship",
        erasure=Erasure.DELETE,
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
        retention="webhook_inbox",
        erasure=Erasure.DELETE,
        personal_columns=("payload",),
    ),
    TableEntry(
        table="rate_limit_log",
        subject_column=None,  # keys are keyed hashes of an address or account id, never the raw value
        category=Category.DEVICE,
        purpose="abuse prevention: times of the requests admitted per client address and account, last window",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="rate_limit_windows",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("key_hash",),
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
    # Privacy rights (issue 7).
    TableEntry(
        table="privacy_requests",
        subject_column="user_id",  # set to null at erasure; subject_ref (the audit pseudonym) stays
        category=Category.ACCOUNT,
        purpose="prove each rights request was answered within the legal deadline",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="relationship_plus_3_years",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("subject_ref",),
    ),
    TableEntry(
        table="account_erasures",
        subject_column="user_id",
        category=Category.ACCOUNT,
        purpose="carry out a requested account erasure after its grace period, step by step",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="relationship",
        erasure=Erasure.DELETE,
    ),
    TableEntry(
        table="erased_accounts",
        subject_column=None,  # the audit pseudonym of an erased account, never its id
        category=Category.ACCOUNT,
        purpose="refuse access tokens issued before an account was erased",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="audit_log",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("subject_ref",),
    ),
    TableEntry(
        table="security_events",
        subject_column=None,  # subject_ref is a keyed hash of an address or account id
        category=Category.DEVICE,
        purpose="detect and investigate unauthorized access attempts",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="security_events",
        erasure=Erasure.KEEP_PSEUDONYMISED,
        personal_columns=("subject_ref",),
    ),
    TableEntry(
        table="exports",
        subject_column="user_id",
        category=Category.ACCOUNT,
        purpose="build the user's data export on request and delete it when its link expires",
        legal_basis=LegalBasis.LEGAL_OBLIGATION,
        retention="exports",
        erasure=Erasure.DELETE,
        personal_columns=("storage_key",),
    ),
    # Provenance and moderation (issue 21).
    TableEntry(
        table="moderation_decisions",
        subject_column="user_id",
        category=Category.USAGE,
        purpose="record why an output, upload or publication was allowed, flagged or blocked (model, score, time), "
        "and an operator's takedown or suspension with the reason given: the statement of reasons an appeal contests",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="relationship_plus_3_years",
        erasure=Erasure.DELETE,
        personal_columns=("reason",),
    ),
    TableEntry(
        table="gallery_reports",
        subject_column=None,  # the reporter is a keyed hash; the reported image links to its owner's media row
        category=Category.MEDIA,
        purpose="let anyone report a gallery image and operators review it; deleted with the image",
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        retention="trash",
        erasure=Erasure.DELETE,
        personal_columns=("reporter_ref", "details"),
    ),
    # Service-improvement dataset (issue 22).
    TableEntry(
        table="improvement_dataset_items",
        subject_column=None,  # the owner and the source image only as HMACs under a key kept outside the database
        category=Category.MEDIA,
        purpose="link each anonymised dataset image to its owner by a keyed hash, so a withdrawal reaches every "
        "copy; the dataset itself holds no link",
        legal_basis=LegalBasis.CONSENT,
        retention="improvement_dataset",
        erasure=Erasure.DELETE,  # by the erasure's own dataset step (a keyed reference, not a column match)
        personal_columns=("subject_ref", "media_ref"),
    ),
)

STORAGE: tuple[StorageEntry, ...] = (
    StorageEntry(
        prefix="users/{user_id}/uploads/",
        category=Category.MEDIA,
        purpose="images the user uploaded (metadata stripped) as inputs for editing, inpainting and upscaling",
        retention="trash",
    ),
    StorageEntry(
        prefix="users/{user_id}/support/",
        category=Category.SUPPORT,
        purpose="images attached to support messages (validated and stripped like uploads)",
        retention="relationship_plus_3_years",
    ),
    StorageEntry(
        prefix="users/{user_id}/outputs/",
        category=Category.MEDIA,
        purpose="images generated for the user",
        retention="trash",
    ),
    StorageEntry(
        prefix="users/{user_id}/thumbnails/",
        category=Category.MEDIA,
        purpose="small previews of the user's uploads and generated images for the history and the gallery",
        retention="trash",
    ),
    StorageEntry(
        prefix="users/{user_id}/exports/",
        category=Category.ACCOUNT,
        purpose="the user's data export archives, until their download link expires",
        retention="exports",
        exported=False,
    ),
    StorageEntry(
        prefix="datasets/{version}/",
        category=Category.MEDIA,
        purpose="service improvement, with your choice: generated images re-encoded from their pixels (no metadata, "
        "Atelier's own provenance mark) in dataset versions, each with a manifest of model, task, aspect ratio and "
        "month; no account, prompt or exact time",
        retention="improvement_dataset",
        exported=False,
    ),
)

# Who else processes personal data on our behalf (the export's summary names them): the processors of
# config/processors.py, which the privacy policy's recipients table is rendered from too.
RECIPIENTS: tuple[Recipient, ...] = tuple(Recipient(p.name, p.role, p.data) for p in PROCESSORS)

# Tables that hold no personal data, with the reason; the schema test accepts these unmapped.
SYSTEM_TABLES: dict[str, str] = {
    "schema_migrations": "migration bookkeeping",
    "task_runs": "scheduled task bookkeeping: task name, times, counts; no user data",
    "task_schedule": "scheduled task claims: task name, last due time, run lease; no user data",
    "audit_pseudonym_key": "the random salt that pseudonymises audit_log.subject_ref",
    "policy_versions": "published policy texts, the same for everyone",
    "improvement_datasets": "service-improvement dataset versions: name, times, revision counters; no user data",
}


def entry(table: str) -> TableEntry:
    for item in TABLES:
        if item.table == table:
            return item
    raise KeyError(table)
