"""POST /webhooks/polar end to end: payloads the real polar-sdk parses, signed as Polar signs them,
through the running app, against the real Postgres and the real credit ledger."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from polar.v2026_10 import outputs
from standardwebhooks import Webhook

from config.settings import Settings
from functions.api.app import create_app
from functions.api.routes.webhooks import handle_polar_delivery
from shared.credits import service as credits
from shared.kit.db import Database
from tests.support import polar as fx
from tests.support.accounts import make_account
from tests.support.threads import run_together
from tests.support.tokens import HS256_SECRET, bearer, hs256

ROOT = Path(__file__).resolve().parents[2]
PACK, BIG_PACK, MONTHLY = "prod-pack", "prod-big", "prod-monthly"
PRODUCTS = f"""
[[product]]
polar_product_id = "{PACK}"
name = "Starter pack"
kind = "pack"
credits = 100

[[product]]
polar_product_id = "{BIG_PACK}"
name = "Big pack"
kind = "pack"
credits = 1000

[[product]]
polar_product_id = "{MONTHLY}"
name = "Monthly"
kind = "subscription"
credits = 500
"""


def make_settings(tmp_path: Path, secret: str | None = fx.NEW_SECRET) -> Settings:
    products = tmp_path / "products.toml"
    products.write_text(PRODUCTS)
    return Settings(
        data_dir=tmp_path / "data",
        supabase_jwt_secret=HS256_SECRET,
        products_file=products,
        polar_webhook_secret=secret,
    )


@pytest.fixture
def hook_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def hook_client(hook_settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(hook_settings, db)) as client:
        yield client


def post(
    client: TestClient,
    envelope: dict[str, Any],
    *,
    secret: str = fx.NEW_SECRET,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> Any:
    body = fx.encode(envelope)
    return client.post(
        "/webhooks/polar", content=body, headers=fx.sign(body, secret, webhook_id=webhook_id, timestamp=timestamp)
    )


def rows(db: Database, sql: str, *params: object) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute(sql, params).fetchall()


def count(db: Database, table: str) -> int:
    return int(rows(db, f"select count(*) as n from {table}")[0]["n"])


def available(db: Database, user_id: uuid.UUID) -> int:
    with db.transaction() as conn:
        return credits.balance(conn, user_id).available


def paid(user_id: uuid.UUID | str | None, product: str = PACK, **kwargs: Any) -> dict[str, Any]:
    return fx.event("order.paid", fx.order(external_id=str(user_id) if user_id else None, product_id=product, **kwargs))


def snapshot(db: Database) -> dict[str, int]:
    tables = ("billing_webhook_inbox", "billing_orders", "billing_refunds", "billing_subscriptions", "credit_grants")
    return {table: count(db, table) for table in (*tables, "credit_revocations", "credit_ledger")}


# --- exactly once --------------------------------------------------------------------------------------


def test_a_paid_pack_grants_its_credits_once_and_records_the_order(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1200, net_amount=1000)
    order_id = envelope["data"]["id"]
    response = post(hook_client, envelope)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processed"
    [grant] = rows(db, "select * from credit_grants where user_id = %s", user)
    assert (grant["kind"], grant["amount"], grant["source_ref"], grant["expires_at"]) == (
        "purchase",
        100,
        f"polar:order:{order_id}",
        None,
    )
    assert available(db, user) == 100
    [order] = rows(db, "select * from billing_orders")
    assert order["user_id"] == user
    assert order["customer_ref"] not in (str(user), user.hex)
    assert len(order["customer_ref"]) == 64
    assert (order["net_amount"], order["tax_amount"], order["total_amount"], order["currency"]) == (
        1000,
        200,
        1200,
        "usd",
    )
    assert (order["billing_reason"], order["status"], order["grant_state"], order["credits"]) == (
        "purchase",
        "paid",
        "granted",
        100,
    )
    [inbox] = rows(db, "select * from billing_webhook_inbox")
    assert (inbox["status"], inbox["event_type"], inbox["attempts"]) == ("processed", "order.paid", 1)
    assert inbox["processed_at"] is not None
    assert inbox["external_customer_id"] == str(user)
    stored = str(inbox["payload"])
    assert "buyer@example.com" not in stored
    assert "Ada Buyer" not in stored


def test_the_same_delivery_twice_applies_once(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user)
    first = post(hook_client, envelope, webhook_id="msg_same")
    before = snapshot(db)
    second = post(hook_client, envelope, webhook_id="msg_same")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"status": "duplicate", "note": "processed"}
    assert snapshot(db) == before
    assert available(db, user) == 100


def test_one_order_under_several_webhook_ids_grants_once(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user)
    for n in range(3):
        assert post(hook_client, envelope, webhook_id=f"msg_{n}").status_code == 200
    assert count(db, "credit_grants") == 1
    assert count(db, "billing_webhook_inbox") == 3
    assert available(db, user) == 100
    notes = [r["note"] for r in rows(db, "select note from billing_webhook_inbox order by received_at")]
    assert notes[1:] == ["already_applied", "already_applied"]


def test_concurrent_deliveries_grant_once(hook_settings: Settings, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user)
    body = fx.encode(envelope)
    # Half the threads share a webhook-id, the others each bring a new one, all for the same order.
    headers = [fx.sign(body, fx.NEW_SECRET, webhook_id="msg_shared" if n % 2 else f"msg_{n}") for n in range(12)]

    def deliver(h: dict[str, str]) -> Callable[[], int]:
        return lambda: handle_polar_delivery(db, hook_settings, body, h).status_code

    statuses = run_together(*(deliver(h) for h in headers))
    assert statuses == [200] * 12
    assert count(db, "credit_grants") == 1
    assert count(db, "billing_webhook_inbox") == 7
    assert available(db, user) == 100


# --- verification --------------------------------------------------------------------------------------


def _tamper(body: bytes) -> bytes:
    return body.replace(b'"total_amount":1000', b'"total_amount":1')


@pytest.mark.parametrize(
    "case", ["tampered_body", "wrong_secret", "old_timestamp", "future_timestamp", "bad_signature"]
)
def test_unverifiable_deliveries_are_403_and_store_nothing(hook_client: TestClient, db: Database, case: str) -> None:
    user = make_account(db)
    body = fx.encode(paid(user))
    before = snapshot(db)
    if case == "tampered_body":
        headers = fx.sign(body, fx.NEW_SECRET)
        body = _tamper(body)
        assert b'"total_amount":1,' in body
    elif case == "wrong_secret":
        headers = fx.sign(body, "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode())
    elif case == "old_timestamp":
        headers = fx.sign(body, fx.NEW_SECRET, timestamp=int(time.time()) - 301)
    elif case == "future_timestamp":
        # Well past the 5-minute tolerance, so a slow request cannot carry it back inside.
        headers = fx.sign(body, fx.NEW_SECRET, timestamp=int(time.time()) + 360)
    else:
        headers = fx.sign(body, fx.NEW_SECRET) | {"webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl"}
    response = hook_client.post("/webhooks/polar", content=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert snapshot(db) == before
    assert available(db, user) == 0


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_signature_headers_are_403(hook_client: TestClient, db: Database, missing: str) -> None:
    body = fx.encode(paid(make_account(db)))
    headers = {k: v for k, v in fx.sign(body, fx.NEW_SECRET).items() if k != missing}
    response = hook_client.post("/webhooks/polar", content=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert count(db, "billing_webhook_inbox") == 0
    assert count(db, "credit_grants") == 0


@pytest.mark.parametrize("secret", [fx.LEGACY_SECRET, fx.NEW_SECRET], ids=["legacy_whole_string", "base64_key"])
def test_both_secret_formats_verify(tmp_path: Path, db: Database, secret: str) -> None:
    user = make_account(db)
    with TestClient(create_app(make_settings(tmp_path, secret), db)) as client:
        assert post(client, paid(user), secret=secret).status_code == 200
        other = fx.NEW_SECRET if secret == fx.LEGACY_SECRET else fx.LEGACY_SECRET
        assert post(client, paid(user), secret=other).status_code == 403
    assert available(db, user) == 100


def test_a_standard_webhooks_signature_is_accepted(hook_client: TestClient, db: Database) -> None:
    """Cross-check our signing helper against the reference Standard Webhooks library."""
    user = make_account(db)
    body = fx.encode(paid(user))
    now = datetime.now(UTC)
    signature = Webhook(fx.NEW_SECRET).sign("msg_std", now, body.decode())
    headers = {"webhook-id": "msg_std", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    assert headers == {
        k: v
        for k, v in fx.sign(body, fx.NEW_SECRET, webhook_id="msg_std", timestamp=int(now.timestamp())).items()
        if k != "content-type"
    }
    assert hook_client.post("/webhooks/polar", content=body, headers=headers).status_code == 200
    assert available(db, user) == 100


def test_without_a_secret_the_endpoint_is_disabled(tmp_path: Path, db: Database) -> None:
    user = make_account(db)
    with TestClient(create_app(make_settings(tmp_path, None), db)) as client:
        response = post(client, paid(user))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhooks_disabled"
    assert count(db, "billing_webhook_inbox") == 0
    assert available(db, user) == 0


# --- events we do not act on ---------------------------------------------------------------------------


def test_a_signed_event_we_do_not_handle_is_stored_as_ignored(hook_client: TestClient, db: Database) -> None:
    checkout = fx.build(outputs.Checkout, customer_email="someone@example.com", customer_ip_address="198.51.100.7")
    envelope = fx.event("checkout.created", checkout)
    response = post(hook_client, envelope)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "note": "event_type_not_handled"}
    [inbox] = rows(db, "select status, event_type, payload from billing_webhook_inbox")
    assert (inbox["status"], inbox["event_type"]) == ("ignored", "checkout.created")
    assert "198.51.100.7" not in str(inbox["payload"])
    assert "someone@example.com" not in str(inbox["payload"])


def test_a_signed_event_of_a_type_the_sdk_does_not_know_is_stored_as_ignored(
    hook_client: TestClient, db: Database
) -> None:
    envelope = fx.event("order.teleported", {"id": "x"})
    response = post(hook_client, envelope)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "note": "unknown_event_type"}
    assert rows(db, "select event_type from billing_webhook_inbox")[0]["event_type"] == "order.teleported"


def test_a_signed_but_unparseable_event_is_stored_raw_and_answered_2xx(hook_client: TestClient, db: Database) -> None:
    """A value newer than our SDK (here a billing_reason it does not know) fails typed parsing. Retrying
    cannot fix that, and Polar disables endpoints that keep failing: store it for operators, answer 200."""
    user = make_account(db)
    envelope = paid(user)
    envelope["data"]["billing_reason"] = "subscription_teleport"
    response = post(hook_client, envelope)
    assert response.status_code == 200
    assert response.json() == {"status": "unparsed", "note": "unparseable_payload"}
    [inbox] = rows(db, "select status, payload from billing_webhook_inbox")
    assert inbox["status"] == "unparsed"
    assert inbox["payload"]["data"]["billing_reason"] == "subscription_teleport"
    assert count(db, "credit_grants") == 0


# --- subscriptions -------------------------------------------------------------------------------------


def test_a_subscription_order_grants_credits_until_the_period_ends(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    period_end = fx.NOW + timedelta(days=30)
    for reason in ("subscription_create", "subscription_cycle"):
        envelope = paid(user, MONTHLY, billing_reason=reason, subscription=fx.order_subscription(period_end=period_end))
        assert post(hook_client, envelope).status_code == 200
    grants = rows(db, "select kind, amount, expires_at from credit_grants order by created_at")
    assert [(g["kind"], g["amount"], g["expires_at"]) for g in grants] == [("subscription", 500, period_end)] * 2
    assert available(db, user) == 1000


def test_a_stale_period_in_the_payload_falls_back_to_the_interval(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    created = datetime(2030, 1, 31, 12, 0, tzinfo=UTC)
    stale = fx.order_subscription(period_end=created - timedelta(days=1))
    envelope = paid(user, MONTHLY, billing_reason="subscription_cycle", subscription=stale, created_at=created)
    assert post(hook_client, envelope).status_code == 200
    [grant] = rows(db, "select expires_at from credit_grants")
    assert grant["expires_at"] == datetime(2030, 2, 28, 12, 0, tzinfo=UTC)


def test_a_subscription_update_order_grants_nothing(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    sub = fx.order_subscription(period_end=fx.NOW + timedelta(days=30))
    envelope = paid(user, MONTHLY, billing_reason="subscription_update", subscription=sub)
    response = post(hook_client, envelope)
    assert response.json() == {"status": "processed", "note": "no_credits_for_subscription_update"}
    assert count(db, "credit_grants") == 0
    assert rows(db, "select grant_state from billing_orders")[0]["grant_state"] == "none"


def test_a_product_outside_the_catalogue_is_recorded_not_granted(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    response = post(hook_client, paid(user, "prod-unknown"))
    assert response.json() == {"status": "ignored", "note": "product_not_in_catalogue"}
    assert count(db, "credit_grants") == 0
    assert count(db, "billing_orders") == 1


def test_cancel_and_revoke_record_state_and_credits_stay(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    sub = fx.order_subscription(period_end=fx.NOW + timedelta(days=30))
    post(hook_client, paid(user, MONTHLY, billing_reason="subscription_create", subscription=sub))
    canceled = fx.subscription(external_id=str(user), status="active", id=sub["id"], cancel_at_period_end=True)
    t1 = fx.NOW
    assert post(hook_client, fx.event("subscription.canceled", canceled, timestamp=t1)).status_code == 200
    revoked = fx.subscription(external_id=str(user), status="canceled", id=sub["id"], ended_at=fx.iso(t1))
    assert (
        post(hook_client, fx.event("subscription.revoked", revoked, timestamp=t1 + timedelta(seconds=5))).status_code
        == 200
    )
    # An older event arriving late does not overwrite the newer state.
    late = fx.subscription(external_id=str(user), status="active", id=sub["id"])
    assert (
        post(hook_client, fx.event("subscription.updated", late, timestamp=t1 - timedelta(minutes=5))).status_code
        == 200
    )
    [state] = rows(db, "select * from billing_subscriptions")
    assert (state["user_id"], state["status"], state["ended_at"]) == (user, "canceled", t1)
    assert available(db, user) == 500


# --- refunds -------------------------------------------------------------------------------------------


def _refund(
    client: TestClient,
    order_id: str,
    amount: int,
    *,
    event_type: str = "refund.updated",
    status: str = "succeeded",
    refund_id: str | None = None,
) -> dict[str, Any]:
    data = fx.refund(order_id=order_id, amount=amount, status=status, refund_id=refund_id)
    response = post(client, fx.event(event_type, data))
    assert response.status_code == 200, response.text
    return data


def _revoked(db: Database) -> list[int]:
    return [r["amount"] for r in rows(db, "select amount from credit_revocations order by created_at")]


def test_partial_refunds_revoke_proportionally_and_cumulatively(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1200, net_amount=999)  # 100 credits for 9.99 net + tax
    order_id = envelope["data"]["id"]
    post(hook_client, envelope)
    _refund(hook_client, order_id, 333, event_type="refund.created", status="pending")  # not yet
    assert _revoked(db) == []
    first = _refund(hook_client, order_id, 333)  # a third: floor(100 * 333 / 999) = 33
    assert _revoked(db) == [33]
    _refund(hook_client, order_id, 333, refund_id=first["id"])  # the same refund again: nothing more
    _refund(hook_client, order_id, 333)  # two thirds: floor(66.6) = 66, so 33 more
    assert _revoked(db) == [33, 33]
    _refund(hook_client, order_id, 333)  # the rest: everything left
    assert _revoked(db) == [33, 33, 34]
    assert available(db, user) == 0
    [order] = rows(db, "select refunded_amount from billing_orders")
    assert order["refunded_amount"] == 999
    assert [r["revocation_ref"].split(":")[0:2] for r in rows(db, "select revocation_ref from credit_revocations")] == [
        ["polar", "refund"]
    ] * 3


def test_a_refund_after_spending_revokes_only_what_is_left(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1000)
    post(hook_client, envelope)
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=80, ref="job-1")
        credits.post(conn, hold.id)
    assert available(db, user) == 20
    _refund(hook_client, envelope["data"]["id"], 500)  # half: 50 credits are owed back, only 20 remain
    assert _revoked(db) == [20]
    assert available(db, user) == 0
    _refund(hook_client, envelope["data"]["id"], 500)  # the rest: nothing left to take
    assert _revoked(db) == [20, 0]
    assert available(db, user) == 0


def test_a_refund_before_its_order_waits_and_is_applied_with_it(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1000)
    response = post(hook_client, fx.event("refund.created", fx.refund(order_id=envelope["data"]["id"], amount=250)))
    assert response.json() == {"status": "processed", "note": "refund_waits_for_its_order"}
    assert _revoked(db) == []
    post(hook_client, envelope)
    assert _revoked(db) == [25]
    assert available(db, user) == 75


def test_concurrent_refund_deliveries_revoke_each_share_once(hook_settings: Settings, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1000)
    handle_polar_delivery(db, hook_settings, fx.encode(envelope), fx.sign(fx.encode(envelope), fx.NEW_SECRET))
    bodies = [
        fx.encode(fx.event("refund.updated", fx.refund(order_id=envelope["data"]["id"], amount=250))) for _ in range(4)
    ]
    deliveries = [(body, fx.sign(body, fx.NEW_SECRET)) for body in bodies for _ in range(2)]  # each refund twice

    def deliver(body: bytes, headers: dict[str, str]) -> Callable[[], int]:
        return lambda: handle_polar_delivery(db, hook_settings, body, headers).status_code

    statuses = run_together(*(deliver(*d) for d in deliveries))
    assert statuses == [200] * 8
    assert _revoked(db) == [25, 25, 25, 25]
    assert available(db, user) == 0
    assert rows(db, "select refunded_amount from billing_orders")[0]["refunded_amount"] == 1000


def test_order_refunded_records_the_status_without_revoking(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1000)
    post(hook_client, envelope)
    refunded = dict(envelope["data"], status="partially_refunded", refunded_amount=400)
    assert post(hook_client, fx.event("order.refunded", refunded)).json()["status"] == "processed"
    [order] = rows(db, "select status, polar_refunded_amount, refunded_amount from billing_orders")
    assert (order["status"], order["polar_refunded_amount"], order["refunded_amount"]) == ("partially_refunded", 400, 0)
    assert available(db, user) == 100


# --- failure and retry ---------------------------------------------------------------------------------


def test_a_failure_mid_apply_leaves_nothing_and_the_retry_applies_once(hook_client: TestClient, db: Database) -> None:
    """The grant is written first, then the order record; a constraint on the order record (a data
    condition, no code patched) makes the second write fail, so the first must roll back with it."""
    user = make_account(db)
    envelope = paid(user, currency="eur")
    with db.transaction() as conn:
        conn.execute("alter table billing_orders add constraint no_eur_yet check (currency <> 'eur') not valid")
    failed = post(hook_client, envelope, webhook_id="msg_retry")
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "webhook_processing_failed"
    assert count(db, "credit_grants") == 0
    assert count(db, "credit_ledger") == 0
    assert count(db, "billing_orders") == 0
    [inbox] = rows(db, "select status, note, attempts, processed_at from billing_webhook_inbox")
    assert (inbox["status"], inbox["attempts"], inbox["processed_at"]) == ("failed", 1, None)
    assert inbox["note"].startswith("CheckViolation")
    again = post(hook_client, envelope, webhook_id="msg_retry")  # Polar retries: same id, new signature
    assert again.status_code == 500
    assert rows(db, "select attempts from billing_webhook_inbox")[0]["attempts"] == 2
    with db.transaction() as conn:
        conn.execute("alter table billing_orders drop constraint no_eur_yet")
    ok = post(hook_client, envelope, webhook_id="msg_retry")
    assert ok.status_code == 200
    assert ok.json()["status"] == "processed"
    assert post(hook_client, envelope, webhook_id="msg_retry").json()["status"] == "duplicate"
    assert count(db, "credit_grants") == 1
    assert available(db, user) == 100
    [inbox] = rows(db, "select status, attempts, processed_at from billing_webhook_inbox")
    assert (inbox["status"], inbox["attempts"]) == ("processed", 3)
    assert inbox["processed_at"] is not None


def test_the_inbox_history_cannot_be_rewritten(hook_client: TestClient, db: Database) -> None:
    post(hook_client, paid(make_account(db)))
    for statement in (
        "update billing_webhook_inbox set payload = '{}'::jsonb",
        "update billing_webhook_inbox set status = 'failed', processed_at = null",
        "delete from billing_webhook_inbox",
    ):
        with pytest.raises(psycopg.errors.RestrictViolation), db.transaction() as conn:
            conn.execute(statement)
    assert count(db, "billing_webhook_inbox") == 1


# --- customers without an account ----------------------------------------------------------------------


def test_an_unknown_customer_is_unmatched_listed_and_applied_when_the_account_appears(
    hook_client: TestClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    future_user = uuid.uuid4()
    envelope = paid(future_user)
    response = post(hook_client, envelope, webhook_id="msg_early")
    assert response.json() == {"status": "unmatched", "note": "customer_has_no_account"}
    assert count(db, "credit_grants") == 0
    [order] = rows(db, "select user_id, grant_state from billing_orders")
    assert (order["user_id"], order["grant_state"]) == (None, "pending")
    # A refund of a quarter arrives while the customer still has no account: it waits too.
    _refund(hook_client, envelope["data"]["id"], 250)

    listed = subprocess.run(
        [sys.executable, "deploy.py", "billing", "unmatched"],
        cwd=ROOT,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "ATELIER_DATA_DIR": str(tmp_path / "cli")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "msg_early" in listed.stdout
    assert f"object={envelope['data']['id']}" in listed.stdout
    assert "1 unmatched delivery" in listed.stdout

    me = hook_client.get("/v1/me", headers=bearer(hs256(sub=str(future_user))))  # first sign-in creates the account
    assert me.status_code == 200
    grants = rows(db, "select kind, amount, source_ref from credit_grants where kind = 'purchase'")
    assert [(g["amount"], g["source_ref"]) for g in grants] == [(100, f"polar:order:{envelope['data']['id']}")]
    assert _revoked(db) == [25]
    [inbox] = rows(db, "select status from billing_webhook_inbox where webhook_id = 'msg_early'")
    assert inbox["status"] == "processed"
    [order] = rows(db, "select user_id, grant_state from billing_orders")
    assert (order["user_id"], order["grant_state"]) == (future_user, "granted")


def test_erasure_keeps_the_order_under_its_pseudonym(hook_client: TestClient, db: Database) -> None:
    user = make_account(db)
    post(hook_client, paid(user))
    [before] = rows(db, "select customer_ref from billing_orders")
    with db.transaction() as conn:
        conn.execute("set local atelier.erasing = 'on'")
        conn.execute("delete from accounts where id = %s", (user,))
    [after] = rows(db, "select user_id, customer_ref, total_amount from billing_orders")
    assert after["user_id"] is None
    assert after["customer_ref"] == before["customer_ref"]
    expected = hashlib.sha256((rows(db, "select key from audit_pseudonym_key")[0]["key"] + ":" + str(user)).encode())
    assert after["customer_ref"] == expected.hexdigest()
    assert not hmac.compare_digest(after["customer_ref"], str(user))
