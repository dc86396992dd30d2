"""The privacy policy is written from what the code enforces, both ways: every purpose, retention rule, processor
and cookie the code has is in the rendered policy, and every row of the policy's tables is one the code has.

The tables are rendered (config/policies/render.py) from config/purposes.py, config/retention.py,
config/processors.py with the deployment's settings, and config/cookies.py; the purposes are checked here against
the data map (shared/privacy/datamap.py), so a table added to the map without a purpose, or with a legal basis or
retention its purpose does not state, fails. The terms quote the settings they depend on.
"""

from __future__ import annotations

import re

import pytest

from config.cookies import COOKIES
from config.policies import KINDS, shipped_text, template
from config.policies.render import PLACEHOLDER, RULE_LABELS, cookie_row, period, purpose_row, recipient_row
from config.processors import PROCESSORS
from config.purposes import BASIS_TEXT, PURPOSES
from config.retention import RULES
from config.settings import Settings
from shared.privacy.datamap import RECIPIENTS, STORAGE, TABLES, LegalBasis

CONFIGURED = Settings(
    controller_name="Atelier Studio SAS",
    controller_address="12 rue de l'Exemple, 75001 Paris, France",
    controller_email="privacy@atelier.example",
    dpo_email="dpo@atelier.example",
    supervisory_authority="Commission nationale de l'informatique et des libertés (CNIL) https://www.cnil.fr",
    email_provider="Postmark (ActiveCampaign)",
    processor_regions={"supabase": "EU (Frankfurt)", "modal": "United States", "polar": "United States"},
    transfer_safeguards={"modal": "standard contractual clauses", "polar": "EU-US Data Privacy Framework"},
)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _rows(text: str, header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header row starts with `| header |`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


@pytest.fixture(scope="module")
def policy() -> str:
    return shipped_text("privacy", settings=CONFIGURED)


def test_every_data_map_entry_serves_exactly_one_stated_purpose_with_its_basis_and_retention() -> None:
    by_table = {t: p for p in PURPOSES for t in p.tables}
    by_prefix = {s: p for p in PURPOSES for s in p.storage}
    assert sum(len(p.tables) for p in PURPOSES) == len(by_table), "a table is listed under two purposes"
    assert set(by_table) == {t.table for t in TABLES}, "purposes and data-map tables differ"
    assert set(by_prefix) == {s.prefix for s in STORAGE}, "purposes and data-map storage prefixes differ"
    for entry in TABLES:
        purpose = by_table[entry.table]
        assert str(entry.legal_basis) in purpose.bases, (entry.table, entry.legal_basis, purpose.key)
        assert entry.retention in purpose.retention, (entry.table, entry.retention, purpose.key)
    for item in STORAGE:
        assert item.retention in by_prefix[item.prefix].retention, item.prefix
    assert set(BASIS_TEXT) == {str(b) for b in LegalBasis}
    for purpose in PURPOSES:  # a basis or rule no table of the purpose uses is a claim the code does not back
        used = [e for e in TABLES if e.table in purpose.tables]
        assert {str(e.legal_basis) for e in used} == set(purpose.bases), purpose.key


def test_every_personal_retention_rule_is_stated_and_nothing_else(policy: str) -> None:
    personal = {name for name, rule in RULES.items() if rule.personal}
    stated = {name for p in PURPOSES for name in p.retention}
    assert stated == personal, f"in code only: {personal - stated}; in the policy only: {stated - personal}"
    assert set(RULE_LABELS) == personal
    flat = _flat(policy)
    for name in personal:
        assert _flat(period(RULES[name])) in flat, name


def test_the_purposes_table_is_exactly_the_purposes_in_code(policy: str) -> None:
    rows = _rows(policy, "Purpose")
    assert rows == [list(purpose_row(p)) for p in PURPOSES]
    for row, purpose in zip(rows, PURPOSES, strict=True):
        assert {b for b in BASIS_TEXT if BASIS_TEXT[b] in row[2]} == set(purpose.bases)


def test_the_recipients_table_is_exactly_the_processors_with_their_regions(policy: str) -> None:
    rows = _rows(policy, "Recipient")
    assert rows == [list(recipient_row(p, CONFIGURED)) for p in PROCESSORS]
    assert [r[0] for r in rows] == ["Supabase", "Modal", "Polar", "Postmark (ActiveCampaign)"]
    assert rows[0][3:] == ["EU (Frankfurt)", "none needed: the data stays in the EEA"]
    assert rows[1][3:] == ["United States", "standard contractual clauses"]
    assert rows[2][4] == "EU-US Data Privacy Framework"
    # The data map's recipients (named in every data export) are the same processors.
    assert [(r.role, r.data) for r in RECIPIENTS] == [(p.role, p.data) for p in PROCESSORS]


def test_the_cookie_table_is_exactly_the_cookie_registry(policy: str) -> None:
    rows = _rows(policy, "Cookie")
    assert rows == [list(cookie_row(c)) for c in COOKIES]
    assert {r[0].strip("`") for r in rows} == {c.name for c in COOKIES}


def test_no_table_is_typed_by_hand_and_every_placeholder_is_filled(policy: str) -> None:
    for kind in KINDS:
        assert not [line for line in template(kind).splitlines() if line.startswith("|")], kind
        assert not PLACEHOLDER.search(shipped_text(kind, settings=CONFIGURED)), kind
    assert len([line for line in policy.splitlines() if line.startswith("|---")]) == 3


def test_the_controller_contact_authority_and_sections_are_stated(policy: str) -> None:
    flat = _flat(policy)
    for text in (
        "**Atelier Studio SAS**, 12 rue de l'Exemple, 75001 Paris, France",
        "privacy@atelier.example",
        "dpo@atelier.example",
        "Commission nationale de l'informatique et des libertés (CNIL) (https://www.cnil.fr)",
        "lodge a complaint",
    ):
        assert text in flat
    headings = set(re.findall(r"^## (.+)$", policy, re.MULTILINE))
    for heading in (
        "Who we are",
        "Why we use it, on what basis, and for how long",
        "Recipients and transfers outside the EEA",
        "Automated decisions",
        "How generated images are marked",
        "The contact form",
        "Service improvement",
        "Children",
        "Cookies",
        "Your rights",
        "Changes",
    ):
        assert heading in headings, heading
    assert "whose lineage includes an upload" in flat
    no_dpo = shipped_text("privacy", settings=CONFIGURED.model_copy(update={"dpo_email": None}))
    assert "data protection officer" not in no_dpo


def test_the_terms_quote_the_settings() -> None:
    custom = CONFIGURED.model_copy(update={"signup_credits": 25, "signup_credit_days": 45})
    terms = _flat(shipped_text("terms", settings=custom))
    assert "The 25 credits you receive when you sign up expire 45 days after they are granted" in terms
    default = Settings.model_fields["signup_credit_days"].default
    assert f"expire {default} days after" in _flat(shipped_text("terms", settings=Settings()))
