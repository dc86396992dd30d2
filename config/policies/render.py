"""Rendering a policy text: the placeholders in config/policies/*.md filled from what the code enforces.

The purposes table comes from config/purposes.py (which the data map is checked against), the retention periods
from config/retention.py, the recipients from config/processors.py with this deployment's regions and transfer
safeguards, the cookie table from config/cookies.py, the controller from settings, the terms' numbers from
settings. A placeholder is `{name}` or `{keep:RULE}`; an unknown one is an error, so a typo cannot ship.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from config.cookies import COOKIES, Cookie
from config.processors import EEA_ONLY, PROCESSORS, UNSET_REGION, Processor
from config.purposes import BASIS_TEXT, PURPOSES, Purpose
from config.retention import RULES, CountedFrom, RetentionRule, Then

if TYPE_CHECKING:
    from config.settings import Settings

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([a-z0-9_]+))?\}")
_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
UNSET = "[not configured for this deployment]"

# How the policy names what each rule keeps (a rule's `what` is written for operators).
RULE_LABELS: dict[str, str] = {
    "relationship_plus_3_years": "account, images, prompts, credits and history",
    "relationship": "notices, mail queue, analytics and preferences",
    "contact_tickets": "contact-form messages",
    "security_log": "security log",
    "security_events": "security events",
    "trash": "images you delete",
    "exports": "data exports",
    "failed_job_inputs": "prompts and input images of failed generations",
    "webhook_inbox": "payment events received from Polar",
    "rate_limit_windows": "hashed request counters",
    "accounting_records": "orders and refunds (pseudonymised)",
    "improvement_dataset": "anonymised dataset copies",
    "audit_log": "pseudonymised records of operator and security actions",
    "signup_block": "hash of a refused under-13 account",
}


def duration(keep: timedelta) -> str:
    """`three years`, `90 days`, `24 hours`, `10 minutes`: years in words below ten, days in digits."""
    days = keep.days
    if days and days % 365 == 0:
        years = days // 365
        return f"{_WORDS.get(years, str(years))} year{'s' if years > 1 else ''}"
    if days > 1:
        return f"{days} days"
    hours = int(keep.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hours"
    return f"{int(keep.total_seconds() // 60)} minutes"


_SPECIAL = {
    "improvement_dataset": "until you switch the choice off, restrict processing, delete the image or your account, or "
    "it is taken down (removed from every dataset version within one purge run, every 15 minutes)",
}


def period(rule: RetentionRule) -> str:
    """How long, in the policy's words, from the rule itself."""
    if rule.name in _SPECIAL:
        return _SPECIAL[rule.name]
    if rule.name == "relationship_plus_3_years":
        return f"while you use Atelier, then {duration(rule.keep)} after your last activity"
    if rule.keep == timedelta(0):
        return "as long as your account exists"
    then = ", then anonymised" if rule.then is Then.ANONYMISE else ""
    counted = {
        CountedFrom.DELETED: f"removed for good at most {duration(rule.keep)} after you delete them",
        CountedFrom.LAST_ACTIVITY: f"{duration(rule.keep)} after the last message{then}",
        CountedFrom.FINISHED: f"{duration(rule.keep)} after it is finished{then}",
    }
    return counted.get(rule.counted_from, f"{duration(rule.keep)}{then}")


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def purpose_row(p: Purpose) -> tuple[str, str, str, str]:
    if len(p.retention) == 1:
        kept = period(RULES[p.retention[0]])
    else:
        kept = "; ".join(f"{RULE_LABELS[name]}: {period(RULES[name])}" for name in p.retention)
    return (p.title, p.data, ", ".join(BASIS_TEXT[b] for b in p.bases), kept)


def purposes_table() -> str:
    return _table(("Purpose", "Data used", "Legal basis", "How long we keep it"), [purpose_row(p) for p in PURPOSES])


def processor_name(p: Processor, settings: Settings) -> str:
    if p.key == "email" and settings.email_provider:
        return settings.email_provider
    return p.name


def recipient_row(p: Processor, settings: Settings) -> tuple[str, str, str, str, str]:
    region = settings.processor_regions.get(p.key) or UNSET_REGION
    safeguard = settings.transfer_safeguards.get(p.key) or (UNSET_REGION if p.key not in settings.processor_regions
                                                            else EEA_ONLY)  # fmt: skip
    return (processor_name(p, settings), p.role, p.data, region, safeguard)


def recipients_table(settings: Settings) -> str:
    return _table(
        ("Recipient", "Role", "Data", "Where the data goes", "Safeguard for transfers outside the EEA"),
        [recipient_row(p, settings) for p in PROCESSORS],
    )


def cookie_row(c: Cookie) -> tuple[str, str, str, str]:
    if c.lifetime_seconds is None:
        lifetime = "until you close the browser"
    else:
        lifetime = duration(timedelta(seconds=c.lifetime_seconds)) if c.lifetime_seconds % (365 * 86400) == 0 else (
            f"{round(c.lifetime_seconds / (30 * 86400))} months"
        )  # fmt: skip
    needs = "essential: no consent needed" if c.essential else f"only if you allow {c.category}"
    return (f"`{c.name}`", c.purpose, needs, lifetime)


def cookies_table() -> str:
    return _table(("Cookie", "What it does", "Consent", "Lifetime"), [cookie_row(c) for c in COOKIES])


def controller(settings: Settings) -> str:
    name = settings.controller_name or UNSET
    address = settings.controller_address or UNSET
    email = settings.controller_email or UNSET
    lines = [
        f"The controller of your personal data is **{name}**, {address}.",
        f"Write to {email} about anything in this policy, or use the contact form or Support in the app.",
    ]
    if settings.dpo_email:
        lines.append(f"Our data protection officer can be reached at {settings.dpo_email}.")
    return "\n".join(lines)


def complaint(settings: Settings) -> str:
    name, url = settings.supervisory_authority_parts
    if not name:
        return f"the data protection supervisory authority {UNSET}"
    return f"{name} ({url})" if url else name


def _values(kind: str, settings: Settings) -> dict[str, str]:
    from config.policies import IMPROVEMENT_DEFAULT_TEXT  # noqa: PLC0415 - the package imports this module

    if kind == "terms":
        return {
            "signup_credits": str(settings.signup_credits),
            "signup_credit_days": str(settings.signup_credit_days),
        }
    return {
        "controller": controller(settings),
        "complaint": complaint(settings),
        "purposes_table": purposes_table(),
        "recipients_table": recipients_table(settings),
        "cookies_table": cookies_table(),
        "improvement_default": IMPROVEMENT_DEFAULT_TEXT[settings.improvement_default],
        "product": settings.product_name,
    }


def render(template: str, *, kind: str, settings: Settings) -> str:
    """Fill every placeholder; raise ValueError naming an unknown one."""
    values = _values(kind, settings)

    def fill(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "keep" and arg in RULES:
            return duration(RULES[arg].keep)
        if arg is None and name in values:
            return values[name]
        raise ValueError(f"unknown placeholder {match.group(0)} in the {kind} policy")

    return PLACEHOLDER.sub(fill, template)
