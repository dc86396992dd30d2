"""Signed Polar webhooks through POST /webhooks/polar: events per second with 30% duplicate deliveries,
then a check that the credit grants equal the distinct orders.

    .venv/bin/python bench/webhooks.py [--events 600] [--threads 8]

Runs on a scratch database (on `DATABASE_URL` when set, else an embedded Postgres in a temporary directory):
the real app, the real inbox, the real ledger; nothing is faked but Polar itself, whose deliveries are built
and signed here as it signs them.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.scratch import scratch_database
from config.settings import Settings
from functions.api.app import create_app
from shared.kit.db import Database
from tests.support import polar as fx

PRODUCT = "bench-pack"
CATALOGUE = f"""
[[product]]
polar_product_id = "{PRODUCT}"
name = "Bench pack"
kind = "pack"
credits = 10
"""


def build_deliveries(users: list[uuid.UUID], events: int, duplicates: float) -> tuple[int, list[tuple[bytes, str]]]:
    """(distinct orders, shuffled deliveries): redeliveries half reuse the webhook-id, half bring a new one."""
    rng = random.Random(7)
    distinct = round(events * (1 - duplicates))
    originals = []
    for _ in range(distinct):
        order = fx.order(external_id=str(rng.choice(users)), product_id=PRODUCT)
        originals.append((fx.encode(fx.event("order.paid", order)), f"msg_{uuid.uuid4().hex}"))
    deliveries = list(originals)
    for _ in range(events - distinct):
        body, wid = rng.choice(originals)
        deliveries.append((body, wid if rng.random() < 0.5 else f"msg_{uuid.uuid4().hex}"))
    rng.shuffle(deliveries)
    return distinct, deliveries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=600, help="deliveries to send, duplicates included")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duplicates", type=float, default=0.3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, scratch_database("bench_webhooks", Path(tmp) / "data") as url:
        root = Path(tmp)
        (root / "products.toml").write_text(CATALOGUE)
        settings = Settings(
            data_dir=root / "data", products_file=root / "products.toml", polar_webhook_secret=fx.NEW_SECRET
        )
        db = Database(url, min_size=args.threads, max_size=args.threads + 2).open()
        try:
            users = [uuid.uuid4() for _ in range(20)]
            with db.transaction() as conn:
                for user in users:
                    conn.execute("insert into accounts (id) values (%s)", (user,))

            distinct, deliveries = build_deliveries(users, args.events, args.duplicates)
            # Sign just before sending so no signature is near the ±5 minute tolerance.
            statuses: list[int] = []
            lock = threading.Lock()
            chunks = [deliveries[n :: args.threads] for n in range(args.threads)]

            with TestClient(create_app(settings, db)) as client:

                def worker(chunk: list[tuple[bytes, str]]) -> None:
                    for body, wid in chunk:
                        code = client.post(
                            "/webhooks/polar", content=body, headers=fx.sign(body, fx.NEW_SECRET, webhook_id=wid)
                        ).status_code
                        with lock:
                            statuses.append(code)

                threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - started

            with db.transaction() as conn:
                grants = conn.execute("select count(*) as n from credit_grants where kind = 'purchase'").fetchone()
                inbox = conn.execute("select count(*) as n from billing_webhook_inbox").fetchone()
            assert grants is not None
            assert inbox is not None
            ok = sum(1 for s in statuses if s == 200)
            print(f"deliveries: {len(deliveries)} ({len(deliveries) - distinct} duplicates), threads: {args.threads}")
            print(f"throughput: {len(deliveries) / elapsed:.1f} signed events/s ({elapsed:.2f} s), 200s: {ok}")
            print(f"inbox rows: {inbox['n']}, grants: {grants['n']}, distinct orders: {distinct}")
            if grants["n"] != distinct or ok != len(deliveries):
                raise SystemExit("MISMATCH: grants must equal distinct orders and every delivery must answer 200")
            print("grants == distinct orders: OK")
        finally:
            db.close()


if __name__ == "__main__":
    main()
