"""Credits benchmark: reserve+post throughput and latency next to trivial transactions on the same Postgres.

    .venv/bin/python bench/credits.py [--seconds 3] [--clients 1,8,32]

Uses `DATABASE_URL` when set (a scratch database is created and dropped on it), else an embedded Postgres
in a temporary folder. Each client is a thread with its own connection and its own account, and runs
as fast as it can for the given time:
  - trivial:   one transaction inserting one row (the cheapest write that must reach the disk);
  - one tx:    `reserve(1)` then `post` in one transaction: the ledger's work for one job, one commit;
  - two tx:    the same cycle as production runs it, `reserve` committed by the API with the job and `post`
               committed by the worker with the result. It commits twice, so against one-commit trivial
               transactions it cannot pass 50% even if the ledger cost nothing.
Each ratio is cycles/s over trivial transactions/s at the same concurrency (the issue's target: ≥ 50% at
8 clients). Figures, not assertions: on a machine whose disk makes commits nearly free the ratio is set by
the rows a cycle writes; over a network (Supabase) it is set by round trips, two per transaction here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.credits import service as credits
from shared.db import migrate
from shared.db.database import Connection, connect_kwargs
from shared.db.embedded import embedded_database_url, stop_embedded


@dataclass
class Result:
    ops: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def run(url: str, clients: int, seconds: float, make_op: Callable[[Connection, int], Callable[[], None]]) -> Result:
    """`clients` threads, each with its own connection, repeating its op until time is up."""
    connections = [psycopg.connect(url, **connect_kwargs()) for _ in range(clients)]
    ops = [make_op(conn, i) for i, conn in enumerate(connections)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def worker(index: int) -> None:
        op, mine = ops[index], latencies[index]
        barrier.wait()
        while not stop.is_set():
            started = time.perf_counter()
            op()
            mine.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for conn in connections:
        conn.close()
    merged = [x for mine in latencies for x in mine]
    return Result(len(merged), elapsed, merged)


def trivial(conn: Connection, index: int) -> Callable[[], None]:
    def op() -> None:
        with conn.transaction():
            conn.execute("insert into bench_trivial (client) values (%s)", (index,))

    return op


def ledger_cycle(users: list[uuid.UUID], *, commits: int) -> Callable[[Connection, int], Callable[[], None]]:
    """reserve(1) + post on the client's own account, in one transaction or in two."""

    def make(conn: Connection, index: int) -> Callable[[], None]:
        user = users[index]

        def one() -> None:
            with conn.transaction():
                hold = credits.reserve(conn, user_id=user, amount=1, ref=uuid.uuid4().hex)
                credits.post(conn, hold.id)

        def two() -> None:
            with conn.transaction():
                hold = credits.reserve(conn, user_id=user, amount=1, ref=uuid.uuid4().hex)
            with conn.transaction():
                credits.post(conn, hold.id)

        return one if commits == 1 else two

    return make


def prepare(url: str, clients: int) -> list[uuid.UUID]:
    migrate(url)
    users = [uuid.uuid4() for _ in range(clients)]
    with psycopg.connect(url, **connect_kwargs()) as conn:
        conn.execute("create table bench_trivial (id bigserial primary key, client int, at timestamptz default now())")
        for n, user in enumerate(users):
            conn.execute("insert into accounts (id) values (%s)", (user,))
            credits.grant(
                conn, user_id=user, amount=10_000_000, kind="adjustment", source_ref=f"bench:{n}", expires_at=None
            )
            credits.grant(  # a second, expiring grant so reserve has a spend order to follow
                conn,
                user_id=user,
                amount=10_000_000,
                kind="subscription",
                source_ref=f"bench:{n}:sub",
                expires_at=datetime.now(UTC) + timedelta(days=365),
            )
    return users


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated concurrency levels")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",")]

    scratch = f"bench_credits_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        server = os.environ.get("DATABASE_URL") or embedded_database_url(Path(tmp))
        try:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f"create database {scratch}")
            url = make_conninfo(server, dbname=scratch)
            users = prepare(url, max(levels))
            print(
                f"Postgres: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded'}; "
                f"{args.seconds:g} s per figure; each client has its own connection and account\n"
            )
            header = (
                f"{'clients':>7} | {'trivial tx/s':>12} {'p50 ms':>7} {'p99 ms':>7} | "
                f"{'one tx cyc/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} | "
                f"{'two tx cyc/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
            )
            print(header)
            print("-" * len(header))
            for clients in levels:
                base = run(url, clients, args.seconds, trivial)
                one = run(url, clients, args.seconds, ledger_cycle(users, commits=1))
                two = run(url, clients, args.seconds, ledger_cycle(users, commits=2))
                print(
                    f"{clients:>7} | {base.rate:>12.0f} {base.percentile(0.5):>7.2f} {base.percentile(0.99):>7.2f} | "
                    f"{one.rate:>12.0f} {one.percentile(0.5):>7.2f} {one.percentile(0.99):>7.2f} "
                    f"{one.rate / base.rate:>6.0%} | "
                    f"{two.rate:>12.0f} {two.percentile(0.5):>7.2f} {two.percentile(0.99):>7.2f} "
                    f"{two.rate / base.rate:>6.0%}"
                )
                if clients == 8:
                    verdict = "meets" if one.rate / base.rate >= 0.5 else "misses"
                    print(f"{'':>7}   target at 8 clients: one-tx cycles ≥ 50% of trivial tx/s → {verdict}")
            with psycopg.connect(url, **connect_kwargs()) as conn:
                spent = conn.execute("select coalesce(sum(spent), 0) as n from credit_grant_state").fetchone()
                pending = conn.execute("select count(*) as n from credit_holds where status = 'pending'").fetchone()
            print(
                f"\nchecked: {spent['n'] if spent else '?'} credits spent, "
                f"{pending['n'] if pending else '?'} holds left pending (expected 0)"
            )
            print("A two-tx cycle's latency covers both of its commits.")
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f"drop database if exists {scratch} with (force)")
            stop_embedded()
    return 0


if __name__ == "__main__":
    sys.exit(main())
