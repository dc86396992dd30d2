"""API cold start and throughput: Atelier next to a bare FastAPI, both under uvicorn.

    python -m bench.api [--requests 3000] [--concurrency 32] [--rounds 3] [--job-body '{"task": "...", ...}']
    python -m bench.api --imports-only [--repeat 9]
    python -m bench.api --after-restore [--repeat 9]
    python -m bench.api --counts-only

First the import cost a cold container pays: CPU and wall seconds of `import functions.api.app` next to the
libraries the API cannot answer without (fastapi, uvicorn, psycopg_pool: the pool opens at start, PyJWT verifies
every token, pydantic-settings reads the settings), each in a fresh interpreter over `--repeat` interleaved rounds
(median and minimum), and the ratio (target: at most 1.3x, issue 34); with, for context, bare `import fastapi,
uvicorn`, a one-route FastAPI app and the import plus `create_app()`, which a container also runs before its first
answer. Each statement runs once untimed first, so our modules read cached bytecode as the installed packages do.
`--after-restore` prints instead the CPU of what the API on Modal runs after a restore from its memory snapshot
(`configure_logging` and `create_app`, in interpreters that ran the Modal entry module first: `SNAPSHOT` says more).
Then the throughput:

Starts `deploy.py local --workers 0` on a free loopback port with a temporary data directory (budgets
raised through ATELIER_RATE_LIMITS so the limiter is paid for but never refuses), and the hello-world
app with `uvicorn.run` in its own process (one process, no reload, no access log: the same model).
Each target gets a warm-up, then a bounded number of requests from `--concurrency` concurrent clients. A round
measures the bare route, then Atelier's two routes (its stack started again on the same data folder), each server
alone on the machine; `--rounds` rounds (3 by default) run in turn, and each ratio printed is the median of the
rounds' ratios (each against the bare route's rate in the same round), with their range: on a machine whose speed
moves from minute to minute, a ratio of two figures measured far apart moves with it.
Prints requests/s, p50 and p99 per target and the ratio to the hello-world (target: Atelier at least 0.5x of it
for GET /v1/me, 0.35x for POST /v1/jobs), and next to each route the database statements and round trips one
request costs, counted in process on a scratch database (the same app, a connection class that counts).

`POST /v1/jobs` is measured for an onboarded member with enough signup credits (ATELIER_SIGNUP_CREDITS is raised
for the run). With `--workers 0` jobs stay queued, so this measures the API's admission path only: validation,
the credit hold and the insert in one statement (one round trip with the analytics guard), then the (no-op) dispatch.
The dispatch marks are written after the answers by the server's thread, one statement for the jobs admitted in each
0.05 s (shared/jobs/marks.py): in the server's CPU, not in the per-request counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.pooling import pool_limits
from bench.processes import leave_on_sigterm, stop_stack
from config.values import value
from functions.server import KEEP_ALIVE_SECONDS

ROOT = Path(__file__).resolve().parents[1]
# Budgets that are paid for but never refuse: one second windows, so the limiter's log holds about a second of
# requests (~600 times: the size of the largest production budget, 600 a minute per address), not the whole run.
GENEROUS = "account.user=1000000/1,account.ip=1000000/1,jobs.user=1000000/1,jobs.ip=1000000/1"
TARGETS = {"GET /v1/me (Atelier)": 0.5, "POST /v1/jobs (Atelier)": 0.35}


@value
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


@contextmanager
def _serving(cmd: list[str], env: dict[str, str], probe: str) -> Iterator[None]:
    """Run the server `cmd` while the block runs; if the block fails, print the end of the server's log (a load
    that ends in a reset connection says why on the server's side)."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            _wait(probe, proc)
            yield
        except BaseException:
            log.seek(0)
            print("\n".join(log.read().decode(errors="replace").splitlines()[-40:]), file=sys.stderr)
            raise
        finally:
            stop_stack(proc)


async def _load(
    name: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | list[dict[str, str]],
    body: Any,
    total: int,
    concurrency: int,
) -> Result:
    rotation = headers if isinstance(headers, list) else [headers]  # requests take the callers in turn
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    remaining = total
    # Idle connections are given up long before the server's keep-alive closes them (bench/pooling.py): a request
    # on one the server is closing would end in a reset.
    async with httpx.AsyncClient(limits=pool_limits(concurrency), timeout=30) as client:

        async def one_client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.request(method, url, headers=rotation[remaining % len(rotation)], json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        for n in range(min(100, total)):  # warm-up: connections, caches, the first account row
            await client.request(method, url, headers=rotation[n % len(rotation)], json=body)
        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(name, len(latencies), seconds, latencies, statuses)


def _print(rounds: list[list[Result]], trips: dict[str, tuple[float, float]]) -> None:
    """One row per target over all rounds (requests/s, p50, p99); `vs hello` is the median of the rounds' ratios to
    the bare route's rate in the same round, with their range when there are several."""
    print(
        f"{'target':28} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs hello':>9} {'target':>7} "
        f"{'stmts':>6} {'trips':>6}  rounds' ratios  statuses"
    )
    for column, first in enumerate(rounds[0]):
        runs = [round_[column] for round_ in rounds]
        codes = sorted({code for run in runs for code in run.statuses})
        statuses = {code: sum(run.statuses.get(code, 0) for run in runs) for code in codes}
        latencies = [latency for run in runs for latency in run.latencies_ms]
        r = Result(first.name, sum(run.requests for run in runs), sum(run.seconds for run in runs), latencies, statuses)
        ratios = sorted(run.rps / round_[0].rps for run, round_ in zip(runs, rounds, strict=True))
        spread = f"{ratios[0]:.2f}–{ratios[-1]:.2f}" if len(ratios) > 1 else ""
        target = f"{TARGETS[r.name]:.2f}x" if r.name in TARGETS else ""
        stmts, rts = trips.get(r.name, (0.0, 0.0))
        print(
            f"{r.name:28} {r.requests:8d} {r.rps:9.0f} {r.percentile(0.5):8.2f} {r.percentile(0.99):8.2f} "
            f"{statistics.median(ratios):8.2f}x {target:>7} {stmts:6.1f} {rts:6.1f}  {spread:>14}  {r.statuses}"
        )


def count_round_trips(job_body: dict[str, Any], requests: int = 50) -> dict[str, tuple[float, float]]:
    """(statements, round trips) per request of GET /v1/me and POST /v1/jobs admission, in process."""
    from fastapi.testclient import TestClient

    from bench.scratch import scratch_database
    from config.settings import Settings
    from functions.api.app import create_app
    from shared.jobs.dispatcher import QueueOnly
    from shared.kit.db import Database
    from tests.support.people import onboard, person
    from tests.support.roundtrips import CountingConnection, per_request
    from tests.support.tokens import HS256_SECRET

    found: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp, scratch_database("bench_api", Path(tmp)) as url:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            supabase_jwt_secret=HS256_SECRET,
            signup_credits=100_000_000,
            max_active_jobs=100,
            rate_limit_overrides=dict(item.split("=") for item in GENEROUS.split(",")),
        )
        db = Database(url, connection_class=CountingConnection).open()
        try:
            # QueueOnly: jobs stay queued, as with `--workers 0`. The dispatch marks are written only when flushed,
            # so none falls into a count (the server writes them after the answers, one statement a batch).
            with TestClient(create_app(settings, db, dispatcher=QueueOnly(), mark_linger=None)) as client:
                who = person()
                onboard(client, who)
                for name, method, path, body, status in (
                    ("GET /v1/me (Atelier)", "GET", "/v1/me", None, 200),
                    ("POST /v1/jobs (Atelier)", "POST", "/v1/jobs", job_body, 202),
                ):
                    per_request(client, method, path, headers=who.headers, json=body, requests=5, expect=status)
                    found[name] = per_request(
                        client, method, path, headers=who.headers, json=body, requests=requests, expect=status
                    )
        finally:
            db.close()
    return found


# What a cold container pays before it can answer, next to the bare framework and next to the libraries the API
# cannot answer without (the reference of issue 34: psycopg_pool opens the pool at start, PyJWT verifies every token,
# pydantic-settings reads the settings). Each statement runs in a fresh interpreter; the API's rows use the local
# settings (a folder for storage), as the bench's server does.
BARE = "import fastapi, uvicorn"
NEEDED = "import fastapi, uvicorn, psycopg_pool, jwt, pydantic_settings"
IMPORT_TARGETS = (
    ("import fastapi, uvicorn (bare)", BARE),
    ("one-route FastAPI app (bench.hello)", "import uvicorn, bench.hello"),
    ("+ psycopg_pool, PyJWT, pydantic-settings", NEEDED),
    ("import functions.api.app", "import functions.api.app"),
    (
        "functions.api.app + create_app()",
        "import tempfile; from config.settings import Settings; from functions.api.app import create_app; "
        "folder = tempfile.TemporaryDirectory(prefix='atelier-bench-'); create_app(Settings(data_dir=folder.name))",
    ),
)
IMPORT_TARGET_RATIO = 1.3  # functions.api.app against NEEDED (issue 34, item 7)


def _run_timed(statement: str, env: dict[str, str], setup: str = "") -> tuple[float, float]:
    code = (
        f"{setup}\n"
        "import time; c, w = time.process_time(), time.perf_counter()\n"
        f"{statement}\n"
        "print(time.process_time() - c, time.perf_counter() - w)"
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout  # noqa: S603
    cpu, wall = out.split()[-2:]
    return float(cpu), float(wall)


def _import_seconds(statement: str) -> tuple[float, float]:
    """(CPU, wall) seconds of running `statement` (imports, app construction) in a fresh interpreter."""
    return _run_timed(statement, dict(os.environ))


def _write_bytecode(statement: str) -> None:
    """One untimed run that may write bytecode: installed packages ship theirs, and our modules get the same, so
    both sides read cached bytecode rather than compiling (PYTHONDONTWRITEBYTECODE would otherwise keep ours
    compiling on every run)."""
    _run_timed(statement, {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})


def print_import_times(repeat: int) -> None:
    """Median and minimum CPU seconds of each statement over `repeat` rounds; each round runs every statement once,
    in turn, so a change in the machine's load reaches all of them alike (the minimum is the least disturbed)."""
    for _, statement in IMPORT_TARGETS:
        _write_bytecode(statement)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in IMPORT_TARGETS}
    for _ in range(repeat):
        for name, statement in IMPORT_TARGETS:
            runs[name].append(_import_seconds(statement))
    rows = []
    for name, _ in IMPORT_TARGETS:
        cpus, walls = sorted(r[0] for r in runs[name]), sorted(r[1] for r in runs[name])
        rows.append((name, cpus[len(cpus) // 2], cpus[0], walls[len(walls) // 2]))
    bare, needed = rows[0], rows[2]
    print(
        f"import time, {repeat} interleaved rounds of fresh interpreters, bytecode cached (target: functions.api.app "
        f"at most {IMPORT_TARGET_RATIO}x the libraries the API cannot answer without)"
    )
    print(f"{'import':42} {'cpu med':>8} {'cpu min':>8} {'wall med':>8} {'vs bare':>8} {'vs needed (min)':>16}")
    for name, cpu, low, wall in rows:
        print(
            f"{name:42} {cpu:8.3f} {low:8.3f} {wall:8.3f} {cpu / bare[1]:7.2f}x "
            f"{cpu / needed[1]:7.2f}x ({low / needed[2]:4.2f}x)"
        )
    print()


# What the API on Modal runs after a restore from its memory snapshot (functions/api_service.py): the snapshot holds
# the interpreter once the entry module ran (the app's modules, the response models built, httpx, storage3, Pillow,
# the modules rarer calls import); `api()` then configures logging and makes the app, reading the settings from the
# environment. Measured in a fresh interpreter that first runs the entry module (untimed), which stands for the
# restored memory. The restore itself, opening the pool to the pooler and the first request's network are Modal's and
# Supabase's, and are not measured here (docs/benchmarks.md says how an operator measures them).
SNAPSHOT = "import functions.api_service"
AFTER_RESTORE = (
    "from functions.api.app import create_app; from shared.logs import configure_logging\n"
    "configure_logging(); create_app(warm_up=True)"
)


def print_after_restore(repeat: int) -> None:
    """Median and minimum CPU (and median wall) seconds of what runs after the snapshot, over `repeat` interpreters."""
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        env = {**os.environ, "ATELIER_DATA_DIR": tmp}
        _run_timed(AFTER_RESTORE, {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}, SNAPSHOT)
        runs = [_run_timed(AFTER_RESTORE, env, SNAPSHOT) for _ in range(repeat)]
    cpus, walls = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
    print(
        f"after a memory-snapshot restore (configure_logging + create_app(warm_up=True), {repeat} interpreters): "
        f"cpu median {cpus[len(cpus) // 2] * 1000:.1f} ms, min {cpus[0] * 1000:.1f} ms, "
        f"wall median {walls[len(walls) // 2] * 1000:.1f} ms"
    )
    print()


def _members(base: str, data_dir: str, *, count: int) -> list[dict[str, str]]:
    """`count` onboarded members' headers. Queued jobs count as active (at most 100 each): enough members for every
    POST /v1/jobs of the run to be admitted."""
    from config.settings import Settings
    from shared.auth import issue_dev_token  # what `deploy.py token` signs with, for this data folder

    version = httpx.get(f"{base}/v1/policies/current", timeout=5).json()["version"]
    onboarding = {"age_confirmed": True, "accepted_policy_version": version}
    members = []
    for n in range(count):
        token = issue_dev_token(Settings(data_dir=Path(data_dir)), f"bench{n}@example.com", hours=1)
        member = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{base}/v1/me/onboarding", json=onboarding, headers=member, timeout=30).raise_for_status()
        members.append(member)
    return members


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per target (bounded)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the three targets in turn, both servers up; median ratio"
    )
    parser.add_argument(
        "--job-body",
        default='{"task": "text_to_image", "prompt": "a lighthouse at dusk"}',
        help="JSON body for POST /v1/jobs",
    )
    parser.add_argument("--repeat", type=int, default=9, help="interleaved rounds of fresh interpreters per import")
    parser.add_argument("--imports-only", action="store_true", help="print the import times and stop")
    parser.add_argument(
        "--after-restore", action="store_true", help="print what runs after a memory-snapshot restore and stop"
    )
    parser.add_argument("--counts-only", action="store_true", help="print statements and round trips per request")
    args = parser.parse_args(argv)
    leave_on_sigterm()

    if args.counts_only:
        for name, (stmts, rts) in count_round_trips(json.loads(args.job_body)).items():
            print(f"{name:28} {stmts:6.1f} statements {rts:6.1f} round trips per request")
        return 0
    if args.after_restore:
        print_after_restore(args.repeat)
        return 0
    print_import_times(args.repeat)
    if args.imports_only:
        return 0
    trips = count_round_trips(json.loads(args.job_body))
    hello_port = _free_port()
    hello_cmd = [
        sys.executable,
        "-c",
        "import uvicorn; uvicorn.run('bench.hello:app', host='127.0.0.1', "
        f"port={hello_port}, log_level='warning', access_log=False, timeout_keep_alive={KEEP_ALIVE_SECONDS})",
    ]
    hello_url = f"http://127.0.0.1:{hello_port}/hello"
    rounds: list[list[Result]] = []
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as data_dir:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_JWT_SECRET")}
        env.update(
            {
                "ATELIER_DATA_DIR": data_dir,
                "ATELIER_RATE_LIMITS": GENEROUS,
                "ATELIER_SIGNUP_CREDITS": "100000000",
                "ATELIER_MAX_ACTIVE_JOBS": "100",  # queued jobs count as active: spread over enough members
            }
        )
        cmd = [sys.executable, "deploy.py", "local", "--port", str(port), "--workers", "0", "--data-dir", data_dir]
        members: list[dict[str, str]] = []
        # Each round measures the bare route with nothing else running, then Atelier's stack (started again on the
        # same data folder: its accounts and jobs stay) with nothing else running, so a round's ratio compares two
        # figures measured a minute or two apart: the machine's own swings (the bare route alone moved by a third
        # between two runs an hour apart) fall on both sides of it far less than between separate runs.
        for _ in range(args.rounds):
            with _serving(hello_cmd, dict(os.environ), hello_url):
                hello = asyncio.run(
                    _load(
                        "GET /hello (bare FastAPI)",
                        "GET",
                        hello_url,
                        headers={},
                        body=None,
                        total=args.requests,
                        concurrency=args.concurrency,
                    )
                )
            with _serving(cmd, env, f"{base}/healthz"):
                if not members:
                    members = _members(base, data_dir, count=(args.rounds * (args.requests + 100)) // 90 + 1)
                me = asyncio.run(
                    _load(
                        "GET /v1/me (Atelier)",
                        "GET",
                        f"{base}/v1/me",
                        headers=members[0],
                        body=None,
                        total=args.requests,
                        concurrency=args.concurrency,
                    )
                )
                admissions = asyncio.run(
                    _load(
                        "POST /v1/jobs (Atelier)",
                        "POST",
                        f"{base}/v1/jobs",
                        headers=members,
                        body=json.loads(args.job_body),
                        total=args.requests,
                        concurrency=args.concurrency,
                    )
                )
            rounds.append([hello, me, admissions])

    print(
        f"{args.concurrency} concurrent clients, {args.requests} requests per target and round, {args.rounds} "
        "round(s), loopback, uvicorn, 1 process"
    )
    print("stmts: SQL statements per request; trips: round trips to Postgres (statements, BEGIN, COMMIT, ROLLBACK)")
    _print(rounds, trips)
    return 0


if __name__ == "__main__":
    sys.exit(main())
