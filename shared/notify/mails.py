"""What Atelier sends: each template's subject, plain text and HTML, built from facts read at send time.

Every mail here is transactional (it is about something the person did or must know, by law or contract),
except a non-material policy update: that one is informational, goes only to people who opted in to emails
(`marketing` consent, checked at send time) and carries List-Unsubscribe. Nothing else marketing-like exists.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any

from config.values import value

TEMPLATES: tuple[str, ...] = (
    "policy_update",
    "export_ready",
    "deletion_requested",
    "deletion_canceled",
    "deletion_completed",
    "support_reply",
    "contact_ack",
    # Moderation (shared/trust/notices.py): each mirrors an in-app notice and says exactly what it says.
    "content_takedown",
    "content_restored",
    "account_suspended",
    "account_unsuspended",
    "appeal_decided",
)

TOPICS = {"general": "a general question", "account": "your account", "billing": "billing", "privacy": "privacy"}


@value
class Site:
    """The product name and where links point (from settings)."""

    product: str
    api_url: str
    app_url: str

    @property
    def preferences_url(self) -> str:
        return f"{self.app_url}/#/privacy"


@value
class Rendered:
    subject: str
    text: str
    html: str
    transactional: bool = True


@value
class Link:
    label: str
    url: str


Block = str | Link


def _day(value: datetime) -> str:
    return f"{value:%Y-%m-%d}"


def _compose(site: Site, subject: str, blocks: list[Block], *, transactional: bool = True) -> Rendered:
    text_parts: list[str] = []
    html_parts: list[str] = []
    for block in blocks:
        if isinstance(block, Link):
            text_parts.append(f"{block.label}: {block.url}")
            url = html.escape(block.url, quote=True)
            html_parts.append(f'<p><a href="{url}">{html.escape(block.label)}</a></p>')
        else:
            text_parts.append(block)
            html_parts.append("<p>" + html.escape(block).replace("\n", "<br>\n") + "</p>")
    footer = f"— {site.product}"
    if not transactional:
        footer += f"\nYou get this because you chose to receive emails. Stop them: {site.preferences_url}"
    text = "\n\n".join([*text_parts, footer]) + "\n"
    body = "\n".join(html_parts)
    page = (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>\n'
        f"<body>\n{body}\n<p>{html.escape(footer).replace(chr(10), '<br>')}</p>\n</body></html>\n"
    )
    return Rendered(subject, text, page, transactional)


def policy_update(site: Site, data: dict[str, Any]) -> Rendered:
    label = "Privacy Policy" if data["kind"] == "privacy" else "Terms of Service"
    url = f"{site.api_url}/v1/policies/{data['kind']}/{data['version']}"
    subject = f"{site.product}: we updated our {label}"
    blocks: list[Block] = [
        f"Version {data['version']} of the {site.product} {label} applies from {_day(data['effective_at'])}.",
    ]
    if data.get("summary"):
        blocks.append(f"What changed: {data['summary']}")
    if data["material"]:
        blocks += [
            "This is a material change to how we handle your data or to your rights, so we ask you to read it "
            "and accept it.",
            Link("Read the new text", url),
            f"If you do nothing: the next time you sign in, {site.product} asks you to accept the new version "
            "before you can go on. Until then you can still sign in, read and export your data, change your "
            "settings or delete your account.",
        ]
        return _compose(site, subject, blocks)
    blocks += ["The changes are minor; nothing is asked of you.", Link("Read the new text", url)]
    return _compose(site, subject, blocks, transactional=False)


def export_ready(site: Site, data: dict[str, Any]) -> Rendered:
    subject = f"{site.product}: your data export is ready"
    return _compose(
        site,
        subject,
        [
            f"The copy of your {site.product} data you asked for is ready to download.",
            Link("Download your data (ZIP)", data["url"]),
            f"The link works until {data['expires_at']:%Y-%m-%d %H:%M} UTC; after that the archive is deleted "
            "and you can ask for a new one. Anyone with the link can download the archive: do not forward it.",
        ],
    )


def deletion_requested(site: Site, data: dict[str, Any]) -> Rendered:
    when = datetime.fromisoformat(data["scheduled_for"])
    why = (
        f"Your {site.product} account has not been used for three years, so we are going to delete it."
        if data.get("by") == "retention"
        else f"We received a request to delete your {site.product} account."
    )
    return _compose(
        site,
        f"{site.product}: your account will be deleted on {_day(when)}",
        [
            f"{why} Your account is locked now, and on {when:%Y-%m-%d %H:%M} UTC it is deleted for good with "
            "your images, history and credits.",
            "Changed your mind? Sign in before then and choose Cancel deletion:",
            Link("Cancel the deletion", f"{site.app_url}/#/privacy"),
            "If you did not ask for this, sign in and cancel it, then change your password.",
        ],
    )


def deletion_canceled(site: Site, data: dict[str, Any]) -> Rendered:
    return _compose(
        site,
        f"{site.product}: your account will not be deleted",
        [f"The deletion of your {site.product} account was canceled. Your account works as before."],
    )


def deletion_completed(site: Site, data: dict[str, Any]) -> Rendered:
    return _compose(
        site,
        f"{site.product}: your account has been deleted",
        [
            f"Your {site.product} account and its data have been deleted, as you asked. This is the last email "
            "we send you: your address is deleted right after it.",
            "We keep only what the law requires (payment records), under a pseudonym.",
        ],
    )


def support_reply(site: Site, data: dict[str, Any]) -> Rendered:
    blocks: list[Block] = [f"We answered your message “{data['subject']}”:", data["reply"]]
    if data["source"] == "app":
        blocks.append(Link("See the conversation", f"{site.app_url}/#/support"))
    else:
        blocks.append("To answer, use the contact form again and mention this message.")
    return _compose(site, f"Re: {data['subject']}", blocks)


def contact_ack(site: Site, data: dict[str, Any]) -> Rendered:
    topic = TOPICS.get(data["topic"], "your message")
    blocks: list[Block] = [f"Thank you for writing to {site.product} about {topic}. We received your message."]
    if data.get("reference"):
        blocks.append(f"Your reference: {data['reference']}. Quote it if you write to us about this again.")
    if data["topic"] == "privacy":
        blocks.append(
            "We handle it as a privacy request and answer within one month. We may ask you to confirm that "
            "the request comes from you."
        )
    else:
        blocks.append("We answer by email, to this address.")
    blocks.append("If you did not write to us, ignore this email.")
    return _compose(site, f"{site.product}: we received your message", blocks)


def notice(site: Site, data: dict[str, Any]) -> Rendered:
    """A moderation notice (takedown, restore, suspension): the notice's own title and text, read at send time."""
    return _compose(site, data["notice_title"], [data["notice_body"]])


RENDERERS: dict[str, Callable[[Site, dict[str, Any]], Rendered]] = {
    "policy_update": policy_update,
    "export_ready": export_ready,
    "deletion_requested": deletion_requested,
    "deletion_canceled": deletion_canceled,
    "deletion_completed": deletion_completed,
    "support_reply": support_reply,
    "contact_ack": contact_ack,
    "content_takedown": notice,
    "content_restored": notice,
    "account_suspended": notice,
    "account_unsuspended": notice,
    "appeal_decided": notice,
}


def render(template: str, site: Site, data: dict[str, Any]) -> Rendered:
    return RENDERERS[template](site, data)
