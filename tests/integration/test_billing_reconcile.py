"""The daily reconciler against a loopback Polar API: a lost order.paid is repaired, never granted twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from polar.v2026_10 import Polar

from config.settings import Settings
from functions.api.app import create_app
from functions.api.routes.webhooks import handle_polar_delivery
from functions.tasks import run_sync_billing
from shared.billing.catalogue import parse_catalogue
from shared.billing.reconcile import sync_billing
from shared.kit.db import Database
from tests.integration.test_polar_webhooks import PRODUCTS, ROOT, make_settings, paid, post, rows
from tests.support import polar as fx
from tests.support.accounts import make_account
from tests.support.loopback import Loopback, Recorded, Reply, loopback_server

TOKEN = "polar_oat_reconcile"
CATALOGUE = parse_catalogue(PRODUCTS)


class FakeOrders:
    """GET /v1/orders/ and /v1/refunds/ with Polar's page/limit pagination over lists of objects."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []  # newest first, as listed with sorting=-created_at

    def __call__(self, request: Recorded) -> Reply:
        return self._page(request, self.orders)

    def list_refunds(self, request: Recorded) -> Reply:
        return self._page(request, self.refunds)

    @staticmethod
    def _page(request: Recorded, objects: list[dict[str, Any]]) -> Reply:
        query = parse_qs(urlsplit(request.path).query)
        page, limit = int(query["page"][0]), int(query["limit"][0])
        items = objects[(page - 1) * limit : page * limit]
        max_page = max(1, -(-len(objects) // limit))
        return Reply(200, {"items": items, "pagination": {"total_count": len(objects), "max_page": max_page}})


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


@pytest.fixture
def polar_api(orders: FakeOrders) -> Iterator[Loopback]:
    with loopback_server({("GET", "/v1/orders/"): orders, ("GET", "/v1/refunds/"): orders.list_refunds}) as server:
        yield server


def _client(url: str) -> Polar:
    return Polar(TOKEN, environment="sandbox", base_url=url, timeout=5.0)


def _grants(db: Database) -> list[str]:
    return [r["source_ref"] for r in rows(db, "select source_ref from credit_grants order by source_ref")]


def test_a_lost_webhook_is_repaired_once_and_a_late_webhook_adds_nothing(
    tmp_path: Path, db: Database, orders: FakeOrders, polar_api: Loopback
) -> None:
    user = make_account(db)
    delivered, lost = paid(user), paid(user)
    orders.orders = [delivered["data"], lost["data"]]
    with TestClient(create_app(make_settings(tmp_path), db)) as client:
        assert post(client, delivered).status_code == 200
        since = datetime.now(UTC) - timedelta(days=3)
        with _client(polar_api.url) as polar:
            assert sync_billing(db, polar, since=since, catalogue=CATALOGUE) == 1
            assert sync_billing(db, polar, since=since, catalogue=CATALOGUE) == 0
        assert post(client, lost).status_code == 200  # the "lost" webhook turns up after all
    assert _grants(db) == sorted(f"polar:order:{o['data']['id']}" for o in (delivered, lost))
    request = polar_api.requests[0]
    assert {k.lower(): v for k, v in request.headers.items()}["authorization"] == f"Bearer {TOKEN}"
    query = parse_qs(urlsplit(request.path).query)
    assert query["status"] == ["paid", "partially_refunded"]
    assert datetime.fromisoformat(query["created_after"][0]) == since


def test_two_runs_and_the_webhooks_at_once_grant_each_order_once(
    tmp_path: Path, db: Database, orders: FakeOrders, polar_api: Loopback
) -> None:
    user = make_account(db)
    envelopes = [paid(user) for _ in range(6)]
    orders.orders = [e["data"] for e in envelopes]
    settings = make_settings(tmp_path)
    since = datetime.now(UTC) - timedelta(days=1)
    results: list[int] = []
    statuses: list[int] = []
    barrier = threading.Barrier(3)

    def reconcile() -> None:
        with _client(polar_api.url) as polar:
            barrier.wait()
            results.append(sync_billing(db, polar, since=since, catalogue=CATALOGUE))

    def webhooks() -> None:
        barrier.wait()
        for envelope in envelopes:
            body = fx.encode(envelope)
            statuses.append(handle_polar_delivery(db, settings, body, fx.sign(body, fx.NEW_SECRET)).status_code)

    threads = [
        threading.Thread(target=reconcile),
        threading.Thread(target=reconcile),
        threading.Thread(target=webhooks),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert len(results) == 2
    assert len(_grants(db)) == 6
    assert sum(results) <= 6
    assert rows(db, "select count(*) as n from billing_orders where grant_state = 'granted'")[0]["n"] == 6


def test_a_lost_refund_is_repaired_once_and_old_refunds_are_not_read(
    tmp_path: Path, db: Database, orders: FakeOrders, polar_api: Loopback
) -> None:
    user = make_account(db)
    envelope = paid(user, total_amount=1000)
    order_id = envelope["data"]["id"]
    recent = fx.refund(order_id=order_id, amount=500)
    old = fx.refund(order_id=order_id, amount=500)
    old["created_at"] = fx.iso(datetime.now(UTC) - timedelta(days=30))
    orders.orders = [envelope["data"]]
    orders.refunds = [recent, old]
    since = datetime.now(UTC) - timedelta(days=3)
    with _client(polar_api.url) as polar:
        assert sync_billing(db, polar, since=since, catalogue=CATALOGUE) == 1
        assert sync_billing(db, polar, since=since, catalogue=CATALOGUE) == 0
    with TestClient(create_app(make_settings(tmp_path), db)) as client:  # the refund webhook turns up late
        assert post(client, fx.event("refund.updated", recent)).json()["note"] == "refund_already_recorded"
    revoked = rows(db, "select revocation_ref, amount from credit_revocations")
    assert [(r["revocation_ref"], r["amount"]) for r in revoked] == [(f"polar:refund:{recent['id']}", 50)]
    refund_query = parse_qs(urlsplit(next(r for r in polar_api.requests if "/v1/refunds/" in r.path).path).query)
    assert refund_query["succeeded"] == ["true"]


def test_every_page_is_read(db: Database, orders: FakeOrders, polar_api: Loopback) -> None:
    user = make_account(db)
    orders.orders = [paid(user)["data"] for _ in range(7)]
    with _client(polar_api.url) as polar:
        from shared.billing import reconcile

        found = reconcile.paid_orders_since(polar, datetime.now(UTC) - timedelta(days=1), page_size=3)
        assert len(found) == 7
        assert sync_billing(db, polar, since=datetime.now(UTC) - timedelta(days=1), catalogue=CATALOGUE) == 7
    assert len(_grants(db)) == 7
    assert sorted(parse_qs(urlsplit(r.path).query)["page"][0] for r in polar_api.requests[:3]) == ["1", "2", "3"]


def test_an_unmatched_order_is_applied_by_the_task_once_the_account_exists(
    tmp_path: Path, db: Database, orders: FakeOrders, polar_api: Loopback
) -> None:
    user = uuid.uuid4()
    envelope = paid(user)
    with TestClient(create_app(make_settings(tmp_path), db)) as client:
        assert post(client, envelope).json()["status"] == "unmatched"
    with db.transaction() as conn:  # an account created without its first API call (e.g. an import)
        conn.execute("insert into accounts (id) values (%s)", (user,))
    settings = Settings(
        data_dir=tmp_path / "d",
        products_file=make_settings(tmp_path).products_file,
        polar_access_token=TOKEN,
        polar_api_url=polar_api.url,
    )
    assert run_sync_billing(db, settings) == 0  # Polar lists nothing new; the sweep applies the waiting one
    assert _grants(db) == [f"polar:order:{envelope['data']['id']}"]
    assert rows(db, "select status from billing_webhook_inbox")[0]["status"] == "processed"


def test_deploy_task_sync_billing_runs_it_now(
    tmp_path: Path, db: Database, database_url: str, orders: FakeOrders, polar_api: Loopback
) -> None:
    user = make_account(db)
    lost = paid(user)
    orders.orders = [lost["data"]]
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "ATELIER_DATA_DIR": str(tmp_path / "cli"),
        "ATELIER_PRODUCTS_FILE": str(make_settings(tmp_path).products_file),
        "POLAR_ACCESS_TOKEN": TOKEN,
        "POLAR_API_URL": polar_api.url,
    }
    for expected in ("sync-billing: succeeded, 1 item(s)", "sync-billing: succeeded, 0 item(s)"):
        done = subprocess.run(
            [sys.executable, "deploy.py", "task", "sync-billing"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
    assert _grants(db) == [f"polar:order:{lost['data']['id']}"]


def test_the_task_is_a_no_op_without_billing(tmp_path: Path, db: Database) -> None:
    assert run_sync_billing(db, Settings(data_dir=tmp_path)) == 0


def test_polar_failures_surface_as_provider_errors(db: Database) -> None:
    from shared.kit.errors import PaymentProviderError

    with (
        loopback_server({("GET", "/v1/orders/"): lambda _: Reply(503, {"detail": "down"})}) as server,
        _client(server.url) as polar,
        pytest.raises(PaymentProviderError),
    ):
        sync_billing(db, polar, since=datetime.now(UTC), catalogue=CATALOGUE)
    assert rows(db, "select count(*) as n from credit_grants")[0]["n"] == 0


def test_the_order_builder_matches_what_the_reconciler_parses(polar_api: Loopback, orders: FakeOrders) -> None:
    orders.orders = [fx.order(external_id=None, product_id="x")]
    with _client(polar_api.url) as polar:
        [order] = polar.orders.list().items
    assert order.customer.external_id is None
