"""What one signed Polar delivery asks of Postgres, pinned (issue 34, item 2): statements and round trips of the
webhook's own work (`handle_polar_delivery`, after the route's per-address limiter, which costs one more), counts
and never times. A change that adds a statement to ingest fails here; one that removes one updates the numbers here
and in docs/benchmarks.md ("Webhooks").

Where a fresh `order.paid`'s 6 round trips go: BEGIN; the inbox insert with the duplicate check and the order's
advisory lock (one statement); the order's state with the account check and the database's now; the grant (one
statement: grant, its state, the credit row, the ledger entry); the order's upsert, which computes its pseudonym,
counts unsettled refunds and marks the inbox row; COMMIT (durable: credits were granted). It was 11 statements in
13 round trips with the limiter: the lock, the order, the account, the pseudonym, a grant lookup, the refunds and
the inbox mark each went alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from functions.api.routes.webhooks import handle_polar_delivery
from shared.credits import service as credits
from shared.kit.db import Database
from shared.kit.errors import BadRequest
from tests.support import polar as fx
from tests.support.accounts import make_account
from tests.support.roundtrips import CountingConnection, Counts

PACK, MONTHLY = "rt-pack", "rt-monthly"
PRODUCTS = f"""
[[product]]
polar_product_id = "{PACK}"
name = "Pack"
kind = "pack"
credits = 100

[[product]]
polar_product_id = "{MONTHLY}"
name = "Monthly"
kind = "subscription"
credits = 500
"""


@pytest.fixture
def counted(database_url: str) -> Iterator[Database]:
    database = Database(database_url, min_size=1, max_size=4, connection_class=CountingConnection).open()
    yield database
    database.close()


@pytest.fixture
def hook_settings(tmp_path: Path) -> Settings:
    products = tmp_path / "products.toml"
    products.write_text(PRODUCTS)
    return Settings(data_dir=tmp_path / "data", products_file=products, polar_webhook_secret=fx.NEW_SECRET)


def deliver(
    db: Database, settings: Settings, envelope: dict[str, Any], webhook_id: str
) -> tuple[dict[str, Any], Counts]:
    """The delivery's answer and what it cost: (statements, round trips)."""
    body = fx.encode(envelope)
    headers = fx.sign(body, fx.NEW_SECRET, webhook_id=webhook_id)
    before = CountingConnection.snapshot()
    response = handle_polar_delivery(db, settings, body, headers)
    after = CountingConnection.snapshot()
    assert response.status_code == 200, response.body
    return json.loads(bytes(response.body)), Counts(
        after.statements - before.statements, after.round_trips - before.round_trips
    )


def inbox(db: Database, webhook_id: str) -> dict[str, Any]:
    with db.transaction() as conn:
        row = conn.execute(
            "select status, note, attempts, processed_at from billing_webhook_inbox where webhook_id = %s",
            (webhook_id,),
        ).fetchone()
    assert row is not None
    return row


def table_counts(db: Database) -> dict[str, int]:
    tables = ("billing_webhook_inbox", "billing_orders", "credit_grants", "credit_ledger")
    with db.transaction() as conn:
        return {t: conn.execute(f"select count(*) as n from {t}").fetchone()["n"] for t in tables}  # type: ignore[index]


def test_a_fresh_paid_order_costs_four_statements_in_six_round_trips(
    counted: Database, hook_settings: Settings
) -> None:
    user = make_account(counted)
    envelope = fx.event("order.paid", fx.order(external_id=str(user), product_id=PACK))
    answer, cost = deliver(counted, hook_settings, envelope, "msg_a")
    assert answer == {"status": "processed", "note": None}
    assert cost == Counts(4, 6)
    row = inbox(counted, "msg_a")
    assert (row["status"], row["note"], row["attempts"]) == ("processed", None, 1)
    assert row["processed_at"] is not None
    with counted.transaction() as conn:
        assert credits.balance(conn, user).available == 100
        order = conn.execute("select grant_state, credits, customer_ref from billing_orders").fetchone()
    assert order is not None
    assert (order["grant_state"], order["credits"], len(order["customer_ref"])) == ("granted", 100, 64)


def test_a_duplicate_is_answered_by_the_claim_alone(counted: Database, hook_settings: Settings) -> None:
    user = make_account(counted)
    envelope = fx.event("order.paid", fx.order(external_id=str(user), product_id=PACK))
    deliver(counted, hook_settings, envelope, "msg_dup")
    before = table_counts(counted)
    answer, cost = deliver(counted, hook_settings, envelope, "msg_dup")
    assert answer == {"status": "duplicate", "note": "processed"}
    assert cost == Counts(1, 3)  # BEGIN, the claim (which found the row), COMMIT: nothing written
    assert table_counts(counted) == before


def test_a_redelivery_under_a_new_id_costs_two_statements(counted: Database, hook_settings: Settings) -> None:
    user = make_account(counted)
    envelope = fx.event("order.paid", fx.order(external_id=str(user), product_id=PACK))
    deliver(counted, hook_settings, envelope, "msg_first")
    answer, cost = deliver(counted, hook_settings, envelope, "msg_again")
    assert answer == {"status": "processed", "note": "already_applied"}
    assert cost == Counts(2, 4)  # the claim, the order's refresh marking the inbox row
    row = inbox(counted, "msg_again")
    assert (row["status"], row["note"], row["attempts"]) == ("processed", "already_applied", 1)
    with counted.transaction() as conn:
        assert credits.balance(conn, user).available == 100


def test_a_subscription_order_reads_the_time_with_the_orders_state(counted: Database, hook_settings: Settings) -> None:
    user = make_account(counted)
    end = datetime.now(UTC) + timedelta(days=30)
    order = fx.order(
        external_id=str(user),
        product_id=MONTHLY,
        billing_reason="subscription_create",
        subscription=fx.order_subscription(period_end=end),
    )
    answer, cost = deliver(counted, hook_settings, fx.event("order.paid", order), "msg_sub")
    assert answer["status"] == "processed"
    assert cost == Counts(4, 6)


def test_an_order_without_an_account_is_unmatched_in_three_statements(
    counted: Database, hook_settings: Settings
) -> None:
    envelope = fx.event("order.paid", fx.order(external_id=str(uuid.uuid4()), product_id=PACK))
    answer, cost = deliver(counted, hook_settings, envelope, "msg_nobody")
    assert answer == {"status": "unmatched", "note": "customer_has_no_account"}
    assert cost == Counts(3, 5)  # no grant
    assert inbox(counted, "msg_nobody")["status"] == "unmatched"
    assert table_counts(counted)["credit_grants"] == 0


def test_a_new_grant_is_one_statement_and_a_replay_still_returns_it(counted: Database) -> None:
    user = make_account(counted)
    past = datetime.now(UTC) - timedelta(days=1)
    soon = datetime.now(UTC) + timedelta(days=1)
    with counted.transaction() as conn:
        before = CountingConnection.snapshot()
        first = credits.grant(conn, user_id=user, amount=5, kind="purchase", source_ref="rt:1", expires_at=soon)
        assert CountingConnection.snapshot().statements - before.statements == 1
    with counted.transaction() as conn:
        # A replay after the grant's expiry returns the grant, as before: the expiry is checked for new grants only.
        again = credits.grant(conn, user_id=user, amount=5, kind="purchase", source_ref="rt:1", expires_at=past)
    assert again.id == first.id
    with pytest.raises(BadRequest) as expired, counted.transaction() as conn:
        credits.grant(conn, user_id=user, amount=5, kind="purchase", source_ref="rt:2", expires_at=past)
    assert expired.value.code == "invalid_expiry"
    assert table_counts(counted)["credit_grants"] == 1
