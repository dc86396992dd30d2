"""Where SQL lives: only in shared/, and every table is written by exactly one package, its owner.

The convention (CONTRIBUTING.md): a package's statements sit in its own modules (`repo.py` for those several of its
modules share; a workflow module may keep the statements only it runs). Another package that needs a row changed
calls the owner's function; reads may join any tables. The one exception is the data-map-driven erasure and
retention steps, which compose their statements from `shared/privacy/datamap.py` (no table name in their text).

This test reads every string literal under shared/ (f-string parts included), finds `insert into`, `update` and
`delete from` statements, and checks the writer against OWNERS; a table created by a migration must have an owner
here, and functions/ and deploy.py (the edges) hold no SQL at all.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
MIGRATIONS = SHARED / "kit" / "db" / "migrations"

# table -> the package (directory or top-level module under shared/) that alone writes it
OWNERS: dict[str, str] = {
    "account_erasures": "privacy",
    "accounts": "accounts",
    "analytics_events": "access",
    "audit_log": "audit",
    "audit_pseudonym_key": "audit",  # written once, by its migration
    "billing_orders": "billing",
    "billing_refunds": "billing",
    "billing_subscriptions": "billing",
    "billing_webhook_inbox": "billing",
    "blocked_signups": "access",
    "consent_events": "consent",
    "credit_accounts": "credits",
    "credit_grant_state": "credits",
    "credit_grants": "credits",
    "credit_hold_allocations": "credits",  # through the credit_reserve/credit_resolve functions (migration 0014)
    "credit_holds": "credits",
    "credit_ledger": "credits",
    "credit_revocations": "credits",
    "email_outbox": "notify",
    "erased_accounts": "privacy",
    "exports": "privacy",
    "gallery_reports": "trust",
    "improvement_dataset_items": "dataset",
    "improvement_datasets": "dataset",
    "jobs": "jobs",
    "media": "media",
    "moderation_decisions": "trust",
    "notifications": "notify",
    "policy_acceptances": "policies",
    "policy_versions": "policies",
    "preferences": "accounts",
    "privacy_requests": "privacy",
    "rate_limit_counters": "ratelimit",
    "rate_limit_log": "ratelimit",
    "schema_migrations": "kit",
    "security_events": "security",
    "security_log": "devices",
    "support_attachments": "support",
    "support_messages": "support",
    "support_tickets": "support",
    "task_runs": "tasks",
    "task_schedule": "tasks",
}

_WRITE = re.compile(r"\b(?:insert\s+into|update|delete\s+from)\s+([a-z_][a-z0-9_]*)\b", re.IGNORECASE)
_CREATE = re.compile(r"\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?([a-z_][a-z0-9_]*)", re.IGNORECASE)
# Words that follow "update"/"delete from" in prose or in `for update skip locked`, not table names.
_NOT_TABLES = {"skip", "nowait", "of", "set", "on", "the", "a", "an", "to", "nothing", "in", "every", "or", "it"}


def _strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _package(path: Path) -> str:
    parts = path.relative_to(SHARED).parts
    return parts[0] if len(parts) > 1 else path.stem


def writers() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SHARED.rglob("*.py")):
        for text in _strings(path):
            for match in _WRITE.finditer(text):
                table = match.group(1).lower()
                if table not in _NOT_TABLES:
                    found[table].add(f"{_package(path)}:{path.relative_to(ROOT)}")
    return found


def test_every_table_is_written_only_by_its_owner() -> None:
    wrong = {
        table: sorted(w for w in places if w.split(":")[0] != OWNERS.get(table))
        for table, places in writers().items()
        if any(w.split(":")[0] != OWNERS.get(table) for w in places)
    }
    assert wrong == {}, f"written outside their owner package (OWNERS here): {wrong}"


def test_every_table_has_an_owner() -> None:
    created = {m.group(1).lower() for sql in MIGRATIONS.glob("*.sql") for m in _CREATE.finditer(sql.read_text())}
    created.add("schema_migrations")  # made by shared/kit/db/migrate.py
    assert created - OWNERS.keys() == set(), "give each new table its owner package in OWNERS"
    assert OWNERS.keys() - created == set(), "OWNERS names tables no migration creates"


def test_the_edges_hold_no_sql() -> None:
    edges = [*sorted((ROOT / "functions").rglob("*.py")), ROOT / "deploy.py"]
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in edges
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "execute"
    ]
    assert offenders == [], "SQL belongs in shared/ (the edges call a service)"


def test_the_scan_sees_a_write_outside_its_owner(tmp_path: Path) -> None:
    """The scan itself works: a statement in a string literal is found and attributed to its package."""
    sample = tmp_path / "sample.py"
    sample.write_text('Q = f"""update media set public = {1} where id = %s"""\nR = "for update skip locked"\n')
    texts = _strings(sample)
    assert [m.group(1) for t in texts for m in _WRITE.finditer(t) if m.group(1) not in _NOT_TABLES] == ["media"]
