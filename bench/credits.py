"""Credits benchmark: reserve+post throughput and latency next to trivial transactions on the same Postgres.

    .venv/bin/python bench/credits.py [--seconds 3] [--clients 1,8,32]

Uses `DATABASE_URL` when set (a scratch database is created and dropped on it), else an embedded Postgres
in a temporary folder. Each client is a process with its own connection and its own account (processes,
not threads: eight Python threads doing short round trips queue on the interpreter lock, and the figure
would measure that), and runs as fast as it can for the given time:
  - trivial:   one transaction inserting one row (the cheapest write that must reach the disk);
  - floor:     the least any reserve+post must do: insert a hold-shaped row with a unique reference, then
               mark it resolved, in one transaction with the same round trips as the ledger cycle, without
               the lock, the grants or the history. It bounds what any ledger design can reach here;
  - ledger:    `reserve(1)` then `post` in one transaction: the ledger's work for one job, one commit;
  - 2 commits: the same cycle as production runs it, `reserve` committed by the API with the job and `post`
               committed by the worker with the result.
Then, with one client and `synchronous_commit = off` (so that the figure is work, not waiting for the disk), the
cost of one cycle of each workload: the server process's CPU time (read from /proc, when the server runs on
this machine), the WAL it wrote, and the rows it inserted and updated (HOT: updates that wrote no index entry).
These move far less than the rates when other work shares the CPU. A last row, `ledger, in server`, runs the same
cycles from a procedure on the server (no client, no protocol): the credit functions' own work.

With `--rounds N` every workload runs N times in turn at each level; the rates are over all rounds, and the
ledger/floor figure is the median of the rounds' ratios (with their range).

Each row prints its rate over trivial transactions/s and over the floor's, both at the same concurrency and in
the same run (the issue's target: the ledger cycle at ≥ 50% of the floor at 8 clients). Figures, not assertions:
on a machine whose disk makes commits nearly free the ratio is set by the rows a cycle writes; over a network
(Supabase) it is set by round trips.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import psycopg

from config.values import value

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_database, server_label
from shared.credits import service as credits
from shared.kit.db.database import Connection, connect_kwargs

WORKLOADS = ("trivial", "floor", "ledger", "2 commits")


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


def operation(workload: str, conn: Connection, index: int, user: uuid.UUID) -> Callable[[], None]:
    """One unit of `workload` for client `index`, acting on its own account."""

    def trivial() -> None:
        with conn.transaction():
            conn.execute("insert into bench_trivial (client) values (%s)", (index,))

    def floor() -> None:
        with conn.transaction():
            row = conn.execute("insert into bench_floor (ref) values (%s) returning id", (uuid.uuid4().hex,)).fetchone()
            assert row is not None
            conn.execute("update bench_floor set status = 'posted' where id = %s", (row["id"],))

    def ledger() -> None:
        with conn.transaction():
            hold = credits.reserve(conn, user_id=user, amount=1, ref=uuid.uuid4().hex)
            credits.post(conn, hold.id)

    def two_commits() -> None:
        with conn.transaction():
            hold = credits.reserve(conn, user_id=user, amount=1, ref=uuid.uuid4().hex)
        with conn.transaction():
            credits.post(conn, hold.id)

    return {"trivial": trivial, "floor": floor, "ledger": ledger, "2 commits": two_commits}[workload]


@value
class Client:
    url: str
    workload: str
    index: int
    user: uuid.UUID


def client(me: Client, start: Barrier, stop: Event, out: Any) -> None:
    """A client process: connect, wait for the others, repeat the operation until told to stop."""
    with psycopg.connect(me.url, **connect_kwargs()) as conn:
        op = operation(me.workload, conn, me.index, me.user)
        latencies: list[float] = []
        start.wait()
        while not stop.is_set():
            started = time.perf_counter()
            op()
            latencies.append(time.perf_counter() - started)
    out.put(latencies)


def run(url: str, workload: str, users: list[uuid.UUID], clients: int, seconds: float) -> Result:
    """`clients` processes running `workload` together for `seconds`."""
    ctx = multiprocessing.get_context("fork")
    start, stop, out = ctx.Barrier(clients + 1), ctx.Event(), ctx.Queue()
    processes = [
        ctx.Process(target=client, args=(Client(url, workload, i, users[i]), start, stop, out)) for i in range(clients)
    ]
    for process in processes:
        process.start()
    start.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    merged = [x for _ in processes for x in out.get()]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a {workload} client failed (exit code {process.exitcode})")
    return Result(len(merged), elapsed, merged)


@dataclass
class Cost:
    cpu_us: float | None  # server CPU per cycle; None when the server's process cannot be read here
    wal_bytes: float
    inserted: float
    updated: float
    hot: float


_WRITES = """select coalesce(sum(n_tup_ins), 0)::bigint as ins, coalesce(sum(n_tup_upd), 0)::bigint as upd,
                    coalesce(sum(n_tup_hot_upd), 0)::bigint as hot
               from pg_stat_user_tables"""


def _server_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The ledger cycle without the client: a procedure calls credit_reserve and credit_resolve as the ledger workload's
# two statements do, committing each cycle. What it costs is the functions' own work (what a migration can change);
# the rest of the ledger row's server CPU is the protocol, parsing and transaction around the two calls.
IN_SERVER = "ledger, in server"
_IN_SERVER_PROCEDURE = """
create or replace procedure bench_ledger_cycles(p_user uuid, p_cycles integer) language plpgsql as $$
declare
    v_hold uuid;
begin
    for i in 1 .. p_cycles loop
        v_hold := (credit_reserve(p_user, 1, md5(random()::text || i), interval '10 minutes', null)).id;
        perform credit_resolve(v_hold, -1, null);
        commit;
    end loop;
end;
$$
"""


def cost(url: str, workload: str, user: uuid.UUID, cycles: int) -> Cost:
    """One client's cost per cycle of `workload`, after a warm-up, with commits not waiting for the disk."""
    with psycopg.connect(url, **connect_kwargs()) as conn:
        conn.autocommit = True
        conn.execute("set synchronous_commit = off")
        conn.execute("set stats_fetch_consistency = none")
        if workload == IN_SERVER:
            conn.execute(_IN_SERVER_PROCEDURE)

            def op() -> None:  # every cycle of the measure in one call: the work of the functions alone
                conn.execute("call bench_ledger_cycles(%s, %s)", (user, cycles))

            conn.execute("call bench_ledger_cycles(%s, %s)", (user, cycles // 4))
        else:
            op = operation(workload, conn, 0, user)
            for _ in range(cycles // 4):
                op()

        def probe() -> tuple[float | None, int, dict[str, Any]]:
            conn.execute("select pg_stat_force_next_flush()")
            conn.execute("select 1")  # the flush happens when the backend goes idle after a statement
            time.sleep(0.05)
            row = conn.execute(
                f"select pg_backend_pid() as pid, pg_current_wal_insert_lsn() - '0/0'::pg_lsn as lsn, w.*"
                f" from ({_WRITES}) w"
            ).fetchone()
            assert row is not None
            return _server_cpu(row["pid"]), int(row["lsn"]), row

        cpu0, lsn0, w0 = probe()
        for _ in range(1 if workload == IN_SERVER else cycles):
            op()
        cpu1, lsn1, w1 = probe()
    per = 1 / cycles
    return Cost(
        cpu_us=(cpu1 - cpu0) * 1e6 * per if cpu0 is not None and cpu1 is not None else None,
        wal_bytes=(lsn1 - lsn0) * per,
        inserted=(w1["ins"] - w0["ins"]) * per,
        updated=(w1["upd"] - w0["upd"]) * per,
        hot=(w1["hot"] - w0["hot"]) * per,
    )


def prepare(url: str, clients: int) -> list[uuid.UUID]:
    users = [uuid.uuid4() for _ in range(clients)]
    with psycopg.connect(url, **connect_kwargs()) as conn:
        conn.execute("create table bench_trivial (id bigserial primary key, client int, at timestamptz default now())")
        conn.execute(
            """create table bench_floor (id uuid primary key default gen_random_uuid(), ref text not null unique,
                                         status text not null default 'pending')"""
        )
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
    parser.add_argument("--cycles", type=int, default=3000, help="cycles per workload for the cost per cycle")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every workload this many times in turn (for a shared machine)"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",")]

    with (
        tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp,
        scratch_database("bench_credits", Path(tmp)) as url,
    ):
        users = prepare(url, max(levels))
        print(
            f"Postgres: {server_label()}; "
            f"{args.seconds:g} s per figure; each client has its own connection and account\n"
        )
        header = f"{'clients':>7}  {'workload':<10} {'per s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs trivial':>10}"
        header += f" {'vs floor':>9}"
        print(header)
        print("-" * len(header))
        summary: list[str] = []
        for clients in levels:
            rounds: dict[str, list[Result]] = {w: [] for w in WORKLOADS}
            for _ in range(args.rounds):
                for w in WORKLOADS:
                    rounds[w].append(run(url, w, users, clients, args.seconds))
            results = {
                w: Result(sum(r.ops for r in rs), sum(r.seconds for r in rs), [x for r in rs for x in r.latencies])
                for w, rs in rounds.items()
            }
            base, floor = results["trivial"].rate, results["floor"].rate
            for workload, result in results.items():
                print(
                    f"{clients:>7}  {workload:<10} {result.rate:>7.0f} {result.percentile(0.5):>7.2f} "
                    f"{result.percentile(0.99):>7.2f} {result.rate / base:>10.0%} {result.rate / floor:>8.2f}×"
                )
            # Pairs measured a few seconds apart compare best on a shared machine: the median of the rounds' ratios.
            ratios = sorted(a.rate / b.rate for a, b in zip(rounds["ledger"], rounds["floor"], strict=True))
            of_floor = statistics.median(ratios)
            spread = f" (rounds {ratios[0]:.2f}–{ratios[-1]:.2f})" if len(ratios) > 1 else ""
            summary.append(f"{clients} clients {of_floor:.2f}×{spread}")
            if clients == 8:
                verdict = "meets" if of_floor >= 0.5 else "misses"
                print(f"{'':>7}  target at 8 clients: ledger ≥ 0.5× the floor → {of_floor:.2f}×, {verdict}")
            print()
        with psycopg.connect(url, **connect_kwargs()) as conn:
            spent = conn.execute("select coalesce(sum(spent), 0) as n from credit_grant_state").fetchone()
            pending = conn.execute("select count(*) as n from credit_holds where status = 'pending'").fetchone()
        print(
            f"checked: {spent['n'] if spent else '?'} credits spent, "
            f"{pending['n'] if pending else '?'} holds left pending (expected 0)"
        )
        print("ledger / floor, same run: " + ", ".join(summary))
        print(f"\nCost per cycle, one client, {args.cycles} cycles, synchronous_commit off:")
        print(f"{'workload':<17} {'server CPU µs':>13} {'WAL bytes':>9} {'inserted':>8} {'updated':>7} {'HOT':>5}")
        for workload in ("floor", "ledger", IN_SERVER):
            c = cost(url, workload, users[0], args.cycles)
            cpu = f"{c.cpu_us:>13.0f}" if c.cpu_us is not None else f"{'(remote)':>13}"
            print(f"{workload:<17} {cpu} {c.wal_bytes:>9.0f} {c.inserted:>8.1f} {c.updated:>7.1f} {c.hot:>5.1f}")
        print("A 2-commit cycle's latency covers both of its commits.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
