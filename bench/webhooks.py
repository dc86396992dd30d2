"""Signed Polar webhooks through POST /webhooks/polar: events per second with 30% duplicate deliveries, next to
polar-sdk's own `validate_event` over the same deliveries in the same run (the reference: target at least 0.5× of
it), then checks that the credit grants equal the distinct orders and every duplicate was a no-op.

    .venv/bin/python bench/webhooks.py [--events 600] [--threads 8] [--customers 30] [--http] [--no-old-harness]

In process (default): the app (its middleware, the real database, polar-sdk warmed as at start) called through its
ASGI interface in one event loop, as uvicorn calls it, by `--threads` concurrent senders, without a network; then,
for comparison, the same app under Starlette's TestClient from `--threads` threads, as this bench measured before
(its portal thread costs about as much CPU per request as a delivery: docs/benchmarks.md). With `--http`: the local
stack (`deploy.py local --workers 0`, polar-sdk warmed at start as in production) on a free loopback port,
`--threads` concurrent HTTP clients, and also one delivery at a time (latency), after the stack says ready.
Runs on a scratch database (on `DATABASE_URL` when set, else an embedded Postgres in a temporary directory):
the real app, the real inbox, the real ledger; nothing is faked but Polar itself, whose deliveries are built
and signed here as it signs them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.pooling import pool_limits
from bench.processes import leave_on_sigterm, stop_stack
from bench.scratch import scratch_database
from config.settings import Settings
from functions.api.app import create_app, warm_webhooks
from shared.kit.db import Database
from tests.support import polar as fx

ROOT = Path(__file__).resolve().parents[1]

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


def sdk_rate(deliveries: list[tuple[bytes, str]]) -> tuple[float, float]:
    """polar-sdk's `validate_event` alone (signature check and typed parse) over the same deliveries, one thread:
    the reference every figure here is divided by; (events/s, CPU seconds per event)."""
    from polar.v2026_10.webhooks import validate_event

    signed = [
        (body, {k.lower(): v for k, v in fx.sign(body, fx.NEW_SECRET, webhook_id=wid).items()})
        for body, wid in deliveries
    ]
    validate_event(signed[0][0], signed[0][1], fx.NEW_SECRET)  # its loaders are built on first use
    started, cpu = time.perf_counter(), time.process_time()
    for body, headers in signed:
        validate_event(body, headers, fx.NEW_SECRET)
    return len(signed) / (time.perf_counter() - started), (time.process_time() - cpu) / len(signed)


def server_cpu(data_dir: Path) -> float | None:
    """CPU seconds the embedded Postgres under `data_dir` has used so far (its postmaster and live backends, from
    /proc); None on `DATABASE_URL` or without /proc. On a shared machine CPU per event swings far less than rates."""
    pid_file = data_dir / "pg" / "postmaster.pid"
    if os.environ.get("DATABASE_URL") or not pid_file.exists() or not Path("/proc").is_dir():
        return None
    postmaster = int(pid_file.read_text().split()[0])
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(entry.name) == postmaster or int(fields[1]) == postmaster:  # fields[1]: the parent's pid
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def send_all(
    post: Callable[[bytes, dict[str, str]], int], deliveries: list[tuple[bytes, str]], threads: int
) -> tuple[float, list[int]]:
    """Send every delivery from `threads` senders (signed just before sending); (seconds, statuses)."""
    statuses: list[int] = []
    lock = threading.Lock()
    chunks = [deliveries[n::threads] for n in range(threads)]

    def worker(chunk: list[tuple[bytes, str]]) -> None:
        for body, wid in chunk:
            code = post(body, fx.sign(body, fx.NEW_SECRET, webhook_id=wid))
            with lock:
                statuses.append(code)

    workers = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - started, statuses


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def over_http(url: str, root: Path, args: argparse.Namespace, deliveries: list[tuple[bytes, str]]) -> float:
    """The local stack on `url`'s database: a few warm-up deliveries after it says ready, one at a time (latency),
    then all of them from `--threads` clients; returns the concurrent run's seconds."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("SUPABASE_URL", "SUPABASE_JWT_SECRET")}
    env.update(
        {
            "DATABASE_URL": url,
            "ATELIER_DATA_DIR": str(root / "stack"),
            "ATELIER_PRODUCTS_FILE": str(root / "products.toml"),
            "POLAR_WEBHOOK_SECRET": fx.NEW_SECRET,
            "ATELIER_RATE_LIMITS": "webhooks.ip=1000000/60",  # one sending address, as Polar's: paid for, never refused
            "ATELIER_DB_POOL_MAX": str(args.threads + 2),
        }
    )
    cmd = [
        sys.executable,
        "deploy.py",
        "local",
        "--port",
        str(port),
        "--workers",
        "0",
        "--data-dir",
        str(root / "stack"),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the local stack exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - started > 180:
                raise SystemExit("the local stack did not say ready in 180 s")
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30, limits=pool_limits(args.threads + 1)) as client:

            def post(body: bytes, headers: dict[str, str]) -> int:
                return client.post("/webhooks/polar", content=body, headers=headers).status_code

            first, *rest = deliveries
            one_at_a_time = rest[: args.sequential]
            concurrent = rest[args.sequential :]
            t0 = time.perf_counter()
            if post(first[0], fx.sign(first[0], fx.NEW_SECRET, webhook_id=first[1])) != 200:
                raise SystemExit("the first delivery was not answered 200")
            print(f"first delivery after ready: {(time.perf_counter() - t0) * 1000:.1f} ms")
            latencies = []
            for body, wid in one_at_a_time:
                t0 = time.perf_counter()
                if post(body, fx.sign(body, fx.NEW_SECRET, webhook_id=wid)) != 200:
                    raise SystemExit("a delivery was not answered 200")
                latencies.append((time.perf_counter() - t0) * 1000)
            latencies.sort()
            print(
                f"one at a time ({len(latencies)}): p50 {latencies[len(latencies) // 2]:.1f} ms, "
                f"p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms ({1000 / (sum(latencies) / len(latencies)):.0f}/s)"
            )
            elapsed, statuses = send_all(post, concurrent, args.threads)
            bad = [s for s in statuses if s != 200]
            if bad:
                raise SystemExit(f"MISMATCH: {len(bad)} deliveries not answered 200: {sorted(set(bad))}")
            rate = len(concurrent) / elapsed
            print(f"{args.threads} at a time ({len(concurrent)}): {rate:.1f} signed events/s ({elapsed:.2f} s)")
            return rate
    finally:
        stop_stack(proc)


def _settings(root: Path) -> Settings:
    # One sending address, as Polar's: paid for, never refused (the default budget is 600 a minute per address).
    return Settings(
        data_dir=root / "data",
        products_file=root / "products.toml",
        polar_webhook_secret=fx.NEW_SECRET,
        rate_limit_overrides={"webhooks.ip": "1000000/60"},
    )


def _cpu_line(label: str, before: tuple[float | None, float], after: tuple[float | None, float], n: int) -> str:
    here = (after[1] - before[1]) / n * 1000
    line = f"CPU per event: this process ({label}) {here:.2f} ms"
    if before[0] is not None and after[0] is not None:
        there = (after[0] - before[0]) / n * 1000
        line += f" + Postgres {there:.2f} ms = {here + there:.2f} ms"
    return line


def _check_answers(
    answers: list[tuple[int, dict[str, object]]], deliveries: list[tuple[bytes, str]], distinct: int
) -> None:
    """Every delivery answered 200; a webhook-id seen again answered `duplicate` (a no-op), and exactly one delivery
    of each order applied it (the others `already_applied`)."""
    if any(code != 200 for code, _ in answers):
        raise SystemExit(f"MISMATCH: every delivery must answer 200: {sorted({c for c, _ in answers if c != 200})}")
    repeats = len(deliveries) - len({wid for _, wid in deliveries})
    duplicates = sum(1 for _, doc in answers if doc.get("status") == "duplicate")
    applied = sum(1 for _, doc in answers if doc.get("status") != "duplicate" and doc.get("note") != "already_applied")
    if duplicates != repeats or applied != distinct:
        raise SystemExit(
            f"MISMATCH: {duplicates} answered duplicate for {repeats} repeated webhook-ids, "
            f"{applied} applied for {distinct} distinct orders"
        )


async def _send_all_async(
    post: Callable[[bytes, dict[str, str]], Awaitable[tuple[int, dict[str, object]]]],
    deliveries: list[tuple[bytes, str]],
    senders: int,
) -> tuple[float, list[tuple[int, dict[str, object]]]]:
    """Every delivery from `senders` concurrent senders in one event loop (each signs just before sending and waits
    for its answer before the next, as the threads of `send_all` do); (seconds, answers)."""
    answers: list[tuple[int, dict[str, object]]] = []

    async def sender(chunk: list[tuple[bytes, str]]) -> None:
        for body, wid in chunk:
            answers.append(await post(body, fx.sign(body, fx.NEW_SECRET, webhook_id=wid)))

    started = time.perf_counter()
    await asyncio.gather(*(sender(deliveries[n::senders]) for n in range(senders)))
    return time.perf_counter() - started, answers


def in_process(
    db: Database,
    root: Path,
    args: argparse.Namespace,
    deliveries: list[tuple[bytes, str]],
    distinct: int,
    *,
    reference_cpu: float,
) -> float:
    """The app (its middleware, the real database) called through its ASGI interface in one event loop, as uvicorn
    calls it, by `--threads` concurrent senders (httpx's ASGITransport: no network); prints the rate and the CPU each
    event cost (this process and the embedded Postgres) next to validate_event's; returns the rate.

    Not Starlette's TestClient (see `old_harness`): it runs the app's loop in a portal thread and every request
    crosses threads through it, which cost about as much CPU as a delivery's own work (docs/benchmarks.md)."""
    app = create_app(_settings(root), db)
    warm_webhooks()  # what the API does at start, before /healthz says ready (functions/api/app.py)

    async def run() -> tuple[
        float, list[tuple[int, dict[str, object]]], tuple[float | None, float], tuple[float | None, float]
    ]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

                async def post(body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
                    response = await client.post("/webhooks/polar", content=body, headers=headers)
                    return response.status_code, response.json()

                before = server_cpu(root / "data"), time.process_time()
                elapsed, answers = await _send_all_async(post, deliveries, args.threads)
                after = server_cpu(root / "data"), time.process_time()
        return elapsed, answers, before, after

    elapsed, answers, before, after = asyncio.run(run())
    rate = len(deliveries) / elapsed
    print(f"in process (ASGI, one event loop), {args.threads} senders: {rate:.1f} signed events/s ({elapsed:.2f} s)")
    cpu = _cpu_line("senders, app", before, after, len(deliveries))
    print(f"{cpu}; validate_event alone {reference_cpu * 1000:.2f} ms")
    _check_answers(answers, deliveries, distinct)
    return rate


def old_harness(
    db: Database, root: Path, args: argparse.Namespace, deliveries: list[tuple[bytes, str]], distinct: int
) -> float:
    """The same app under Starlette's TestClient from `--threads` sender threads, as this bench measured before
    (issue 34, item 2): printed beside the ASGI figure so the harness's own cost stays visible; returns the rate."""
    with TestClient(create_app(_settings(root), db)) as client:

        def post(body: bytes, headers: dict[str, str]) -> int:
            response = client.post("/webhooks/polar", content=body, headers=headers)
            with lock:
                answers.append((response.status_code, response.json()))
            return response.status_code

        answers: list[tuple[int, dict[str, object]]] = []
        lock = threading.Lock()
        before = server_cpu(root / "data"), time.process_time()
        elapsed, _ = send_all(post, deliveries, args.threads)
        after = server_cpu(root / "data"), time.process_time()
    rate = len(deliveries) / elapsed
    print(f"old harness (TestClient), {args.threads} threads: {rate:.1f} signed events/s ({elapsed:.2f} s)")
    print(_cpu_line("sender threads, TestClient, app", before, after, len(deliveries)))
    _check_answers(answers, deliveries, distinct)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=600, help="deliveries to send, duplicates included")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--customers", type=int, default=30, help="accounts the orders are spread over")
    parser.add_argument("--http", action="store_true", help="through the local stack over HTTP")
    parser.add_argument("--sequential", type=int, default=100, help="--http: deliveries sent one at a time first")
    parser.add_argument(
        "--no-old-harness", action="store_true", help="in process: skip the TestClient run printed for comparison"
    )
    args = parser.parse_args()
    leave_on_sigterm()

    with tempfile.TemporaryDirectory() as tmp, scratch_database("bench_webhooks", Path(tmp) / "data") as url:
        root = Path(tmp)
        (root / "products.toml").write_text(CATALOGUE)
        db = Database(url, min_size=1, max_size=args.threads + 2).open()
        try:
            users = [uuid.uuid4() for _ in range(args.customers)]
            with db.transaction() as conn:
                for user in users:
                    conn.execute("insert into accounts (id) values (%s)", (user,))
            distinct, deliveries = build_deliveries(users, args.events, args.duplicates)
            reference, reference_cpu = sdk_rate(deliveries)
            print(
                f"deliveries: {len(deliveries)} ({len(deliveries) - distinct} duplicates), customers: {args.customers}"
            )
            print(f"reference: polar-sdk validate_event alone, one thread: {reference:.0f} events/s")
            webhook_ids = {wid for _, wid in deliveries}
            if args.http:
                rate = over_http(url, root, args, deliveries)
                where = "over HTTP (local stack)"
            else:
                rate = in_process(db, root, args, deliveries, distinct, reference_cpu=reference_cpu)
                where = "in process"
                if not args.no_old_harness:  # other orders, the same shape: the first run's are all applied now
                    more, again = build_deliveries(users, args.events, args.duplicates)
                    old = old_harness(db, root, args, again, more)
                    print(f"ratio under the old harness (TestClient): {old / reference:.2f}x")
                    distinct += more
                    webhook_ids |= {wid for _, wid in again}

            with db.transaction() as conn:
                grants = conn.execute("select count(*) as n from credit_grants where kind = 'purchase'").fetchone()
                inbox = conn.execute("select count(*) as n from billing_webhook_inbox").fetchone()
            assert grants is not None
            assert inbox is not None
            print(f"ratio {where}: {rate / reference:.2f}x of the SDK's parse rate (target: at least 0.5x)")
            print(f"inbox rows: {inbox['n']}, grants: {grants['n']}, distinct orders: {distinct}")
            if grants["n"] != distinct or inbox["n"] != len(webhook_ids):
                raise SystemExit("MISMATCH: grants must equal distinct orders, inbox rows distinct webhook-ids")
            print("grants == distinct orders, inbox rows == distinct webhook-ids: OK")
        finally:
            db.close()


if __name__ == "__main__":
    main()
