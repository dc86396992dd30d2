"""Why Atelier processes personal data, as data: each purpose with the data it uses, its legal bases and the
retention rules (config/retention.py) that bound it.

The privacy policy's purposes table is rendered from this (config/policies/render.py). Every table and storage
prefix of the data map (shared/privacy/datamap.py) belongs to exactly one purpose, with a legal basis and a
retention rule that purpose states; tests/unit/test_policy_completeness.py fails on any disagreement, either way.
"""

from __future__ import annotations

from config.values import value

# The legal bases of Art. 6(1) GDPR the service relies on (the values of shared.privacy.datamap.LegalBasis).
CONTRACT = "contract"
CONSENT = "consent"
LEGITIMATE_INTEREST = "legitimate interest"
LEGAL_OBLIGATION = "legal obligation"

BASIS_TEXT = {
    CONTRACT: "contract (needed to provide what you asked for)",
    CONSENT: "consent (your choice, withdrawable at any time)",
    LEGITIMATE_INTEREST: "legitimate interest",
    LEGAL_OBLIGATION: "legal obligation",
}


@value
class Purpose:
    key: str
    title: str  # the first column of the policy's table
    data: str  # what is used, in words
    bases: tuple[str, ...]
    retention: tuple[str, ...]  # rule names in config/retention.py, in the order the policy states them
    tables: tuple[str, ...] = ()  # data-map tables serving this purpose
    storage: tuple[str, ...] = ()  # data-map storage prefixes serving this purpose


PURPOSES: tuple[Purpose, ...] = (
    Purpose(
        key="service",
        title="Provide the studio: your account, images, prompts and credits",
        data="email address, names and avatar from your sign-in provider; uploads, generated images, prompts and "
        "settings; credit balance and history; your choices about optional uses",
        bases=(CONTRACT,),
        retention=("relationship_plus_3_years", "trash", "failed_job_inputs", "relationship"),
        tables=(
            "accounts",
            "credit_accounts",
            "credit_grants",
            "credit_grant_state",
            "credit_revocations",
            "credit_holds",
            "credit_hold_allocations",
            "credit_ledger",
            "media",
            "jobs",
            "preferences",
            "billing_subscriptions",
        ),
        storage=("users/{user_id}/uploads/", "users/{user_id}/outputs/", "users/{user_id}/thumbnails/"),
    ),
    Purpose(
        key="payments",
        title="Sell credits and keep the accounting records the law requires",
        data="what you bought and when, tied to a pseudonym of your account; the payment events Polar sends "
        "(stripped of your name, address and tax id)",
        bases=(LEGAL_OBLIGATION, LEGITIMATE_INTEREST),
        retention=("accounting_records", "webhook_inbox"),
        tables=("billing_orders", "billing_refunds", "billing_webhook_inbox"),
    ),
    Purpose(
        key="notices",
        title="Tell you what you must know: policy changes, exports, deletion, moderation decisions, answers",
        data="in-app notices and the emails that mirror them (your address is read when the mail is sent)",
        bases=(LEGAL_OBLIGATION,),
        retention=("relationship",),
        tables=("notifications", "email_outbox"),
    ),
    Purpose(
        key="records",
        title="Prove what you accepted and chose",
        data="the policy and terms versions you accepted and when; your cookie choices with a shortened IP "
        "address and a hash of your browser string",
        bases=(LEGAL_OBLIGATION,),
        retention=("relationship_plus_3_years",),
        tables=("policy_acceptances", "consent_events"),
    ),
    Purpose(
        key="rights",
        title="Answer your privacy requests (access, export, correction, erasure, restriction)",
        data="the request, its deadline and answer; your data export until its link expires",
        bases=(LEGAL_OBLIGATION, LEGITIMATE_INTEREST),
        retention=("relationship_plus_3_years", "exports", "relationship", "audit_log"),
        tables=("privacy_requests", "account_erasures", "exports", "erased_accounts"),
        storage=("users/{user_id}/exports/",),
    ),
    Purpose(
        key="security",
        title="Keep the service and your account secure, and prevent abuse",
        data="per signed-in request: IP address, browser, operating system, device type, language and screen "
        "size; hashed request counters; pseudonymised records of operator and security actions",
        bases=(LEGITIMATE_INTEREST,),
        retention=("security_log", "security_events", "rate_limit_windows", "audit_log"),
        tables=("security_log", "rate_limit_counters", "rate_limit_log", "security_events", "audit_log"),
    ),
    Purpose(
        key="safety",
        title="Keep illegal and harmful content out (automated checks, reports, takedowns)",
        data="the automated check of each image (category, score, model, time; never the image), reports about "
        "gallery images (the reporter only as a keyed hash)",
        bases=(LEGITIMATE_INTEREST,),
        retention=("relationship_plus_3_years", "trash"),
        tables=("moderation_decisions", "gallery_reports"),
    ),
    Purpose(
        key="children",
        title="Keep children under 13 out",
        data="a salted hash of a refused account's id",
        bases=(LEGAL_OBLIGATION,),
        retention=("signup_block",),
        tables=("blocked_signups",),
    ),
    Purpose(
        key="support",
        title="Answer support requests, appeals and contact-form messages",
        data="your messages and attachments; for the contact form, the name and address you give",
        bases=(LEGITIMATE_INTEREST,),
        retention=("relationship_plus_3_years", "contact_tickets"),
        tables=("support_tickets", "support_messages", "support_attachments"),
        storage=("users/{user_id}/support/",),
    ),
    Purpose(
        key="analytics",
        title="Count which features are used (only if you allow analytics)",
        data="which feature, model, aspect ratio or edit action you used",
        bases=(CONSENT,),
        retention=("relationship",),
        tables=("analytics_events",),
    ),
    Purpose(
        key="improvement",
        title="Improve the service with anonymised generated images (your choice)",
        data="anonymised copies of images generated for you from text alone (never an upload or anything made "
        "from one), with model, task, aspect ratio and month",
        bases=(CONSENT,),
        retention=("improvement_dataset",),
        tables=("improvement_dataset_items",),
        storage=("datasets/{version}/",),
    ),
)


def purpose(key: str) -> Purpose:
    for item in PURPOSES:
        if item.key == key:
            return item
    raise KeyError(key)
