"""The data map in words a person recognises, for the privacy center ("What we hold", "Delete your account").

Every table and storage prefix of the data map belongs to exactly one group here (tests/unit/test_privacy_plain.py
fails otherwise), so the plain list can never leave something out; what erasure keeps is said with why and for
how long, and a group says it keeps something exactly when one of its entries is not deleted with the account.
"""

from __future__ import annotations

from config.values import value


@value
class Group:
    id: str
    label: str  # "your images and uploads": lower case, reads inside a sentence and as a list item
    what: str  # what it is, in the person's terms
    why: str  # why we hold it
    kept_for: str  # how long, while the account exists and after
    tables: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()  # data-map storage prefixes
    # What stays after "Delete your account", why and for how long; None: all of it is deleted.
    kept_after_deletion: str | None = None


GROUPS: tuple[Group, ...] = (
    Group(
        id="account",
        label="your account details",
        what="Your email address, the names you gave us and your account's settings.",
        why="To sign you in, show your account and answer you.",
        kept_for="As long as you have an account.",
        tables=("accounts",),
    ),
    Group(
        id="images",
        label="your images and uploads",
        what="The images you uploaded or made, their previews, and whether you shared them in the gallery.",
        why="To show them in your history, let you download, edit and share them.",
        kept_for="Until you delete them (then 30 days in the bin), or your account.",
        tables=("media", "gallery_reports"),
        prefixes=("users/{user_id}/uploads/", "users/{user_id}/outputs/", "users/{user_id}/thumbnails/"),
    ),
    Group(
        id="creations",
        label="your prompts and creation settings",
        what="What you asked Atelier to make (prompts, models, sizes, seeds) and the safety checks of the results.",
        why="To make your images, charge the right credits, and keep the gallery safe.",
        kept_for="As long as you have an account; the prompt of a creation that failed, 7 days.",
        tables=("jobs", "moderation_decisions"),
    ),
    Group(
        id="credits",
        label="your credits",
        what="Your credit balance and every credit you received or spent.",
        why="So you can see and use what you paid for.",
        kept_for="As long as you have an account.",
        tables=(
            "credit_accounts",
            "credit_grants",
            "credit_grant_state",
            "credit_revocations",
            "credit_holds",
            "credit_hold_allocations",
            "credit_ledger",
        ),
    ),
    Group(
        id="purchases",
        label="your credit purchases",
        what="What you bought and when, your subscription, and refunds.",
        why="To give you the credits you paid for and keep the records the law requires.",
        kept_for="Invoices for 10 years; the rest as long as you have an account.",
        tables=("billing_orders", "billing_refunds", "billing_subscriptions", "billing_webhook_inbox"),
        kept_after_deletion="invoices for 10 years, because accounting law requires it (with any refunds, no "
        "longer linked to your name)",
    ),
    Group(
        id="support",
        label="your support conversations",
        what="The messages you wrote to us, our answers and the images you attached.",
        why="To help you, and to see what went before if you write again.",
        kept_for="As long as you have an account; contact-form messages 3 years after the last one.",
        tables=("support_tickets", "support_messages", "support_attachments"),
        prefixes=("users/{user_id}/support/",),
    ),
    Group(
        id="choices",
        label="your choices and the policies you accepted",
        what="Your cookie and privacy choices, and which version of our policy and terms you accepted, when.",
        why="To respect your choices and show that we asked.",
        kept_for="As long as you have an account.",
        tables=("preferences", "consent_events", "policy_acceptances"),
    ),
    Group(
        id="messages",
        label="messages we sent you",
        what="The notices in your account and the emails we sent you.",
        why="To tell you about changes, exports and answers.",
        kept_for="As long as you have an account.",
        tables=("notifications", "email_outbox"),
    ),
    Group(
        id="usage",
        label="how you use Atelier",
        what="Which features, models and sizes you use (only if you allow analytics).",
        why="To know what to improve.",
        kept_for="As long as you have an account, or until you turn analytics off.",
        tables=("analytics_events",),
    ),
    Group(
        id="security",
        label="sign-in and security records",
        what="The devices and networks you used Atelier from, and attempts to misuse your account.",
        why="To keep your account and the service safe.",
        kept_for="90 days; request counts for minutes.",
        tables=("security_log", "security_events", "rate_limit_counters", "rate_limit_log", "blocked_signups"),
        kept_after_deletion="security alerts and request counts until they expire (at most 90 days), to keep "
        "the service safe (without your name)",
    ),
    Group(
        id="requests",
        label="your privacy requests and data exports",
        what="Your requests to see, correct or delete your data, our answers, and the copies you downloaded.",
        why="To answer on time and show that we did.",
        kept_for="Requests as long as you have an account; download copies for 7 days.",
        tables=("privacy_requests", "account_erasures", "erased_accounts", "exports"),
        prefixes=("users/{user_id}/exports/",),
        kept_after_deletion="a record that your requests were answered, for 3 years, because data-protection law "
        "asks us to show it (without your name)",
    ),
    Group(
        id="improvement",
        label="images used to improve Atelier",
        what="Anonymised copies of images generated for you, only if you chose service improvement.",
        why="To improve our results.",
        kept_for="Until you turn the choice off, delete the image or your account.",
        tables=("improvement_dataset_items",),
        prefixes=("datasets/{version}/",),
    ),
    Group(
        id="audit",
        label="records of actions on your account",
        what="A note of what our staff and systems did on your account, and when.",
        why="So that every action on your data can be checked later.",
        kept_for="3 years.",
        tables=("audit_log",),
        kept_after_deletion="a note of the actions taken on your account for 3 years, so they can be checked "
        "(without your name)",
    ),
)


def group_of_table(table: str) -> Group:
    for group in GROUPS:
        if table in group.tables:
            return group
    raise KeyError(table)


def group_of_prefix(prefix: str) -> Group:
    for group in GROUPS:
        if prefix in group.prefixes:
            return group
    raise KeyError(prefix)
